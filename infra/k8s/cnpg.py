"""The schema migrations as SQL that CloudNativePG runs once, when it creates the database.

``bootstrap.initdb.postInitApplicationSQLRefs`` runs each referenced text
once, as the superuser, in the application database, as one multi-statement
query (one implicit transaction). The text therefore switches to the owner
role first, so that the owner (the role the functions connect as) owns the
tables, and records each migration in ``schema_migrations`` as
``python -m infra.migrate`` does, so that later migrations apply on top with
that tool.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from infra.errors import InfraError

CONFIG_MAP = "eventfn-migrations"
KEY = "migrations.sql"
# bootstrap.initdb.owner of the Cluster in k8s/base/postgres.yaml
OWNER = "eventfn"
_ROLE = re.compile(r"[a-z_][a-z0-9_]*")


class MigrationText(Protocol):
    """What the SQL needs of an ``infra.migrate.Migration`` (kept free of its database client)."""

    @property
    def version(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def sql(self) -> bytes: ...
    @property
    def checksum(self) -> str: ...
    @property
    def label(self) -> str: ...


def migrations_sql(
    migrations: Sequence[MigrationText], history_ddl: str, owner: str = OWNER
) -> str:
    """Every migration, in order, each followed by its row in the history table
    (``history_ddl`` creates it, as ``python -m infra.migrate`` does); run as ``owner``."""
    if not _ROLE.fullmatch(owner):
        raise InfraError(f"database owner {owner!r} is not a plain lower-case role name")
    parts = [
        "-- Run once by CloudNativePG (bootstrap.initdb.postInitApplicationSQLRefs) as the\n"
        "-- superuser, in one transaction; later migrations: python -m infra.migrate.",
        f"SET ROLE {owner};\nSET search_path TO public;",
        history_ddl.strip().rstrip(";") + ";",
    ]
    for migration in migrations:
        parts.append(f"-- {migration.label}.sql\n{migration.sql.decode().strip()}")
        # Text for a file, not a query: the version is a number, the name
        # [a-z0-9_]+ (load_migrations refuses others), the checksum hex.
        parts.append(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES "  # noqa: S608
            f"({migration.version}, '{migration.name}', '{migration.checksum}');"
        )
    parts.append("RESET search_path;\nRESET ROLE;")
    return "\n\n".join(parts) + "\n"


def migrations_config_map(
    migrations: Sequence[MigrationText], history_ddl: str, owner: str = OWNER
) -> dict[str, Any]:
    """The ConfigMap the CloudNativePG Cluster in k8s/base/postgres.yaml refers to."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIG_MAP,
            "labels": {"app.kubernetes.io/part-of": "eventfn"},
        },
        "data": {KEY: migrations_sql(migrations, history_ddl, owner)},
    }
