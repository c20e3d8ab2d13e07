"""The bridge: Kafka consumer groups that invoke a function's URL with batches of events."""
