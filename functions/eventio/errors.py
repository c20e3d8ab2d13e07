"""The adapters' one exception root."""


class DependencyError(Exception):
    """Kafka or PostgreSQL could not do what was asked; a retry may help."""


class DeliveryError(DependencyError):
    """Kafka did not acknowledge every record in time.

    ``outcomes`` has one entry per record: None when acknowledged, else why not.
    """

    def __init__(self, outcomes: list[str | None]) -> None:
        self.outcomes = outcomes
        failed = [outcome for outcome in outcomes if outcome is not None]
        super().__init__(
            f"Kafka did not acknowledge {len(failed)} of {len(outcomes)} records: {failed[0]}"
        )
