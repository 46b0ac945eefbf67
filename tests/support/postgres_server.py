"""A real PostgreSQL server for tests: Debian's binaries, a fresh cluster in a temporary folder, loopback only.

Starting and stopping it is throwaway_servers.py's (shared with bench/team.py): `initdb`, then `postgres` itself,
stopped by its pid. Here, what only the tests need: connections from 127.0.0.1 are trusted, except for roles in
`password_users` (scram-sha-256), which `add_password_user` makes for tests of a refused password; each test's
database sorts and folds text as a real server's usually does (ICU).

`postgres_server` (session) starts one per test session; `postgres_url` gives each test a database of its own on
it. Both skip, saying why, only when the binaries are missing: `scripts/test.sh` installs them.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Self

import pytest

from tests.support import throwaway_servers
from tests.support.throwaway_servers import missing_postgres

if TYPE_CHECKING:
    from ccrouter.ledger.postgres_store import PostgresLedger

PASSWORD_GROUP = "password_users"  # roles in this group must give their password (pg_hba.conf below)
DATABASE_LOCALE = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
HBA = f"""# written by tests/support/postgres_server.py: loopback TCP only
host all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
"""


class PostgresServer(throwaway_servers.PostgresServer):
    """One PostgreSQL cluster on 127.0.0.1:`port` in a temporary folder of its own (`close` removes it)."""

    def __init__(self) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="ccr-test-postgres-")), hba=HBA)
        self._databases = itertools.count(1)

    def start(self) -> Self:
        """Start the server; the password group is made the first time."""
        super().start()
        if not self.execute(f"SELECT 1 FROM pg_roles WHERE rolname = '{PASSWORD_GROUP}'"):
            self.execute(f"CREATE ROLE {PASSWORD_GROUP} NOLOGIN")
        return self

    def create_database(self) -> str:
        """A new, empty database; its URL (the trusted superuser). Its text sorts and folds case as a real server's
        usually does (ICU, en-US: "a" < "B", lower("È") is "è"), not bytewise as the cluster's C locale would: the
        store must not depend on the database's locale."""
        name = f"test_{next(self._databases)}"
        self.execute(f'CREATE DATABASE "{name}" {DATABASE_LOCALE}')
        return self.url(name)

    def add_password_user(self, name: str, password: str) -> None:
        """A login role that must give `password` (scram-sha-256), owning nothing: for the refused-password tests."""
        self.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}' IN ROLE {PASSWORD_GROUP}")


def start_postgres() -> PostgresServer:
    """A started server; skips the test when the binaries are missing."""
    reason = missing_postgres()
    if reason:
        pytest.skip(f"{reason} (apt-get install postgresql; scripts/test.sh does)")
    server = PostgresServer()
    try:
        return server.start()
    except BaseException:
        server.close()
        raise


@pytest.fixture(scope="session", name="postgres_server")
def postgres_server_fixture() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    server.close()


@pytest.fixture(name="postgres_url")
def postgres_url_fixture(postgres_server: PostgresServer) -> str:
    """A fresh database of its own for each test (on the session's server, started again if a test stopped it)."""
    if postgres_server.pid is None:
        postgres_server.start()
    return postgres_server.create_database()


OpenLedger = Callable[[str], "PostgresLedger"]


@pytest.fixture(name="open_ledger")
def open_ledger_fixture() -> Iterator[OpenLedger]:
    """PostgresLedger(url), closed after the test however it ends (an open connection is a ResourceWarning)."""
    from ccrouter.ledger.postgres_store import PostgresLedger

    opened: list[PostgresLedger] = []

    def open_one(url: str) -> PostgresLedger:
        opened.append(PostgresLedger(url))
        return opened[-1]

    yield open_one
    for ledger in opened:
        ledger.close()


@pytest.fixture(name="own_postgres")
def own_postgres_fixture() -> Iterator[PostgresServer]:
    """A server of the test's own, which it may stop and start (about half a second to make)."""
    server = start_postgres()
    yield server
    server.close()
