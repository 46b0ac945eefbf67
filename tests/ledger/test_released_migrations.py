"""The two ledgers' migrations (ledger/migrations.py for SQLite, ledger/postgres_migrations.py for PostgreSQL) each
spell out the table's columns in their own database's types. They are kept apart on purpose: a released migration
never changes (files and databases written by it upgrade in place from exactly that text), so the two lists never
need to be changed together. What must hold instead: released migrations stay byte for byte what they were, and
each database's migrated table has exactly the columns a row has (`rows.COLUMNS`)."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from pathlib import Path

import pytest

from ccrouter.ledger import migrations, postgres_migrations
from ccrouter.ledger.rows import COLUMNS
from ccrouter.ledger.store import SqliteLedger
from tests.support.postgres_server import (  # noqa: F401 (fixtures)
    OpenLedger,
    PostgresServer,
    open_ledger_fixture,
    postgres_server_fixture,
    postgres_url_fixture,
)

# Each database's migrations, and the first 16 hex digits of the SHA-256 of each released one's statements (joined by
# newlines).
RELEASED = {
    "sqlite": (migrations.MIGRATIONS, ["12d80ebe12c002b8", "dd8f5745a6e41fb7", "695131584fba7e3d", "36f5e0c4ad85f25e"]),
    "postgres": (postgres_migrations.MIGRATIONS, ["1c57dffdadaf7b64", "92e58fc3a29737a1", "44dfd179aae062fb"]),
}


@pytest.mark.parametrize("database", list(RELEASED))
def test_released_migrations_never_change(database: str) -> None:
    steps, released = RELEASED[database]
    assert len(steps) >= len(released), "a released migration was removed: add a new one instead"
    digests = [hashlib.sha256("\n".join(step).encode()).hexdigest()[:16] for step in steps[: len(released)]]
    assert digests == released, "a released migration changed: put the change in a new migration instead"


def test_the_sqlite_table_has_a_rows_columns(tmp_path: Path) -> None:
    store = SqliteLedger(tmp_path / "ledger.db")
    store.schema_version()  # creates and migrates the file
    store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "ledger.db")) as connection:
        names = [name for _, name, *_ in connection.execute("PRAGMA table_info(requests)")]
    assert names == ["id", *COLUMNS]


def test_the_postgres_table_has_a_rows_columns(
    open_ledger: OpenLedger, postgres_server: PostgresServer, postgres_url: str
) -> None:
    open_ledger(postgres_url).schema_version()  # creates and migrates the database
    found = postgres_server.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'ccr_requests' "
        "ORDER BY ordinal_position",
        postgres_url.rsplit("/", 1)[1],
    )
    assert [name for (name,) in found] == ["id", *COLUMNS]
