"""The adapters' one exception root."""

from collections.abc import Sequence


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

    def split(self, names: Sequence[str]) -> tuple[list[str], list[str]]:
        """``names`` (one per record) split into acknowledged and not acknowledged."""
        pairs = list(zip(names, self.outcomes, strict=True))
        return [n for n, o in pairs if o is None], [n for n, o in pairs if o is not None]
