"""The redrive's one exception root."""


class RedriveError(Exception):
    """Kafka or the settings did not allow the redrive to go on; the message says where."""
