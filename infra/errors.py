"""The infra package's one exception root and its kinds."""

from __future__ import annotations


class InfraError(Exception):
    """Root of every error the infra package raises on purpose."""


class PlanError(InfraError):
    """The run cannot be planned: app.yaml or a func.yaml does not say what it needs."""


class SetupError(InfraError):
    """A prerequisite (Kafka jars, PostgreSQL binaries) is missing and cannot be installed."""


class StartupError(InfraError):
    """A service did not come up: formatting, initdb or the health wait failed."""


class MigrationError(InfraError):
    """A migration file or the recorded migration history cannot be used."""


class ChecksumMismatchError(MigrationError):
    """An applied migration's file changed after it was applied."""

    def __init__(self, version: int, name: str, recorded: str, actual: str) -> None:
        self.version = version
        self.name = name
        self.recorded = recorded
        self.actual = actual
        super().__init__(
            f"migration {version:04d}_{name} was applied with checksum {recorded[:12]}… but "
            f"the file now has {actual[:12]}…; applied migrations must not change — "
            "add a new migration instead"
        )
