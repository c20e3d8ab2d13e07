"""The bridge: Kafka consumer groups that invoke each function's URL with batches of events.

A process of its own (``python -m bridge``), beside the gateway: it knows its
functions only by the URLs its settings name, so it feeds the local gateway
and Knative Services alike.
"""
