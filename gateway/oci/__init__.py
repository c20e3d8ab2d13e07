"""The OCI side of the gateway: request signatures and the keys that check them."""
