"""The SQL CloudNativePG runs at bootstrap, run as it runs it, on the real PostgreSQL.

CloudNativePG runs it once, as the superuser, in the new application
database, as one multi-statement query. Afterwards the owner role must own
the tables (the functions connect as the owner) and ``python -m infra.migrate``
must find the database up to date, so later migrations apply on top.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow

from infra import postgres
from infra.components import postgres_plan
from infra.control import recognise_own_env
from infra.k8s.cnpg import migrations_sql
from infra.migrate import HISTORY_TABLE_DDL, apply_migrations, load_migrations
from infra.ports import free_ports
from infra.settings import Settings
from infra.supervisor import Supervisor

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """An embedded PostgreSQL of this module's own: the session's database URL is
    the eventfn role's, and the bootstrap runs as a superuser, over the socket."""
    settings = recognise_own_env(Settings.from_env())
    if settings.external_database_url:
        pytest.skip("DATABASE_URL names a server whose superuser these tests do not have")
    (port,) = free_ports(1)
    settings = replace(settings, run_dir=tmp_path_factory.mktemp("cnpg-run"), pg_port=port)
    supervisor = Supervisor(postgres_plan(settings), settings.run, write_status=False)
    supervisor.start_in_background(240.0)
    try:
        yield settings
    finally:
        supervisor.stop()


@dataclass(frozen=True)
class NewDatabase:
    settings: Settings
    name: str
    owner: str
    owner_url: str

    def superuser(self) -> psycopg.Connection[TupleRow]:
        """What CloudNativePG's bootstrap connects as: the superuser, in the new database."""
        return psycopg.connect(
            host=str(postgres.socket_dir(self.settings)),
            port=self.settings.pg_port,
            user=postgres.SUPERUSER,
            dbname=self.name,
            autocommit=True,
        )


@pytest.fixture
def new_database(server: Settings) -> Iterator[NewDatabase]:
    """A database as initdb.database/owner makes it: empty, owned by a login role."""
    suffix = secrets.token_hex(4)
    owner, name, password = f"k8s_owner_{suffix}", f"k8s_bootstrap_{suffix}", secrets.token_hex(8)
    with postgres.superuser_connect(server) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(password)
            )
        )
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )
    try:
        url = f"postgresql://{owner}:{password}@127.0.0.1:{server.pg_port}/{name}"
        yield NewDatabase(server, name, owner, url)
    finally:
        with postgres.superuser_connect(server) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(owner)))


def test_the_bootstrap_sql_leaves_the_owners_schema_that_migrate_finds_up_to_date(
    new_database: NewDatabase,
):
    migrations = load_migrations()
    with new_database.superuser() as conn:
        superuser = conn.execute("SELECT current_user").fetchone()
        conn.execute(
            migrations_sql(migrations, HISTORY_TABLE_DDL.decode(), new_database.owner).encode()
        )
        # the role is reset for whatever the bootstrap runs next
        assert conn.execute("SELECT current_user").fetchone() == superuser
        owners = dict(
            conn.execute(
                "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        )
    tables = ("events", "alerts", "alert_transitions", "alert_windows", "alert_applied_events")
    assert owners == {name: new_database.owner for name in (*tables, "schema_migrations")}
    # the tool later migrations use sees every one applied
    assert apply_migrations(new_database.owner_url) == []
    # the functions, connected as the owner, can write
    with psycopg.connect(new_database.owner_url, autocommit=True) as conn:
        conn.execute("INSERT INTO events (source, id, type) VALUES ('/k8s', '1', 'TEMP')")
        recorded = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    assert [v for (v,) in recorded] == [m.version for m in migrations]


def test_a_failing_bootstrap_leaves_nothing_half_made(new_database: NewDatabase):
    good = migrations_sql(load_migrations(), HISTORY_TABLE_DDL.decode(), new_database.owner)
    broken = good.replace("ON alerts (created_at);", "ON alerts (no_such_column);")
    assert broken != good
    with new_database.superuser() as conn:
        with pytest.raises(psycopg.errors.UndefinedColumn):
            conn.execute(broken.encode())
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    # one query, one implicit transaction: CloudNativePG's bootstrap fails whole
    assert tables == []
