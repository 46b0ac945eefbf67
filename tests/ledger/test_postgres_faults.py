"""The PostgreSQL ledger when things go wrong, against a real server (tests/support/postgres_server.py): the server
stopped and started again under the same store and under the writer thread, idle connections closed by a restart,
refused logins, missing databases and missing rights said with what to do, and never with the password."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import pytest

from ccrouter.ledger.faults import LedgerError
from ccrouter.ledger.postgres_store import PostgresLedger
from ccrouter.ledger.writer import LedgerWriter
from tests.ledger.support import Reports, row
from tests.support.postgres_server import (  # noqa: F401 (fixtures)
    OpenLedger,
    PostgresServer,
    open_ledger_fixture,
    own_postgres_fixture,
    postgres_server_fixture,
    postgres_url_fixture,
)

# ---------------------------------------------------------------------------------------------------------------
# The server going away and coming back


def test_a_stopped_server_is_said_plainly_and_the_same_store_works_when_it_returns(
    own_postgres: PostgresServer, open_ledger: OpenLedger
) -> None:
    store = open_ledger(own_postgres.create_database())
    store.append([row()])
    own_postgres.stop()
    with pytest.raises(LedgerError, match=r"cannot be reached .*start the server") as caught:
        store.append([row()])
    assert caught.value.kind == "unreachable" and f"127.0.0.1:{own_postgres.port}/test_1" in str(caught.value)
    with pytest.raises(LedgerError, match="cannot be reached"):
        store.totals()
    own_postgres.start()
    store.append([row()])
    assert store.totals().requests == 2


def test_the_first_call_after_a_restart_works(own_postgres: PostgresServer, open_ledger: OpenLedger) -> None:
    """Each thread's idle connection was closed by the restart: it is found closed before use, not failed on."""
    store = open_ledger(own_postgres.create_database())
    store.append([row()])
    reader = threading.Thread(target=store.totals)  # a second thread's connection, idle through the restart
    reader.start()
    reader.join()
    own_postgres.restart()
    store.append([row()])
    results: list[Any] = []
    reader = threading.Thread(target=lambda: results.append(store.totals().requests))
    reader.start()
    reader.join()
    assert results == [2]


def test_the_writer_keeps_the_rows_while_the_server_is_down_and_writes_them_when_it_returns(
    own_postgres: PostgresServer, open_ledger: OpenLedger
) -> None:
    store = open_ledger(own_postgres.create_database())
    reports = Reports()
    writer = LedgerWriter(store, report=reports, flush_ms=5, retry_ms=50)
    writer.put(row())
    assert writer.flush(timeout=30)
    own_postgres.stop()
    for _ in range(5):
        writer.put(row())
    [fault] = reports.wait_for("error")
    assert "cannot be reached" in fault and "start the server" in fault and writer.stats().pending == 5
    own_postgres.start()
    reports.wait_for("info")
    assert writer.flush(timeout=30)
    writer.close()
    assert store.totals().requests == 6 and writer.stats().dropped == 0


# ---------------------------------------------------------------------------------------------------------------
# Logins, databases, rights: what to do, never the password

PASSWORD = "p@ss w0rd/é:1"


def assert_secret_kept(error: BaseException, store: PostgresLedger | None = None) -> None:
    for form in (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD)):
        assert form not in str(error) and form not in repr(error)
        assert store is None or form not in repr(store)


def test_a_wrong_password_is_said_without_the_password(postgres_server: PostgresServer) -> None:
    postgres_server.add_password_user("ana", "the-right-one")
    store = PostgresLedger(postgres_server.url("postgres", "ana", quote(PASSWORD, safe="")))
    with pytest.raises(LedgerError, match=r"refused the login .*check the user and password") as caught:
        store.totals()
    assert caught.value.kind == "auth" and "PostgreSQL ana@127.0.0.1" in str(caught.value)
    assert_secret_kept(caught.value, store)


def test_a_missing_database_is_said_with_how_to_create_it(postgres_server: PostgresServer) -> None:
    postgres_server.add_password_user("bea", PASSWORD)
    store = PostgresLedger(postgres_server.url("no_such_db", "bea", quote(PASSWORD, safe="")))
    with pytest.raises(LedgerError, match=r"does not exist.*create it") as caught:
        store.append([row()])
    assert caught.value.kind == "missing-database" and "/no_such_db" in str(caught.value)
    assert_secret_kept(caught.value, store)


def test_a_malformed_url_is_said_without_the_password() -> None:
    with pytest.raises(LedgerError, match="not a PostgreSQL address") as caught:
        PostgresLedger(f"postgresql://ana:{quote(PASSWORD, safe='')}@[::1/ledger")
    assert caught.value.kind == "bad-url"
    assert_secret_kept(caught.value)


def test_a_user_without_rights_is_told_which_and_works_once_the_owner_migrated(
    postgres_server: PostgresServer, postgres_url: str, open_ledger: OpenLedger
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    postgres_server.execute("CREATE ROLE clerk LOGIN")
    clerk = open_ledger(postgres_server.url(database, "clerk"))
    with pytest.raises(LedgerError, match=r"refused this user .*grant it") as caught:
        clerk.append([row()])  # PostgreSQL 15: only the owner may create in the public schema
    assert caught.value.kind == "permission"
    owner = open_ledger(postgres_url)
    owner.append([row()])
    postgres_server.execute("GRANT SELECT, INSERT ON ccr_requests, ccr_schema TO clerk", database)
    clerk.append([row()])
    assert clerk.totals().requests == 2
