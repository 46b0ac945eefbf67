"""The `stored` fixture: rows written to a new ledger of each database in turn (SQLite, then a real PostgreSQL),
for the tests that must give the same answers on both. A test module using it imports the PostgreSQL fixtures too
(`tests.support.postgres_server`): pytest finds fixtures by the test module's names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ccrouter.ledger.rows import LedgerRow
from ccrouter.ledger.store import LedgerStore, SqliteLedger
from tests.support.postgres_server import (  # noqa: F401 (fixtures)
    open_ledger_fixture,
    postgres_server_fixture,
    postgres_url_fixture,
)

Stored = Callable[[list[LedgerRow]], LedgerStore]


@pytest.fixture(name="stored", params=["sqlite", "postgres"])
def stored_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stored]:
    """`rows` in a new ledger of the parameter's database."""
    opened: list[SqliteLedger] = []

    def store(rows: list[LedgerRow]) -> LedgerStore:
        if request.param == "postgres":
            ledger: LedgerStore = request.getfixturevalue("open_ledger")(request.getfixturevalue("postgres_url"))
        else:
            opened.append(SqliteLedger(tmp_path / "ledger.db"))
            ledger = opened[-1]
        ledger.append(rows)
        return ledger

    yield store
    for ledger in opened:
        ledger.close()
