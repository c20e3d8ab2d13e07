"""The replay's one exception root."""


class ReplayError(Exception):
    """The bucket, Kafka or the settings did not allow the replay to go on; says where."""
