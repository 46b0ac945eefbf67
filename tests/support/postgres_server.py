"""A real PostgreSQL server for tests: Debian's binaries, a fresh cluster in a temporary folder, loopback only.

`PostgresServer` runs `initdb` and then `postgres` itself (not `pg_ctl`), so it knows the server's pid and stops it by
that pid: SIGINT (PostgreSQL's fast shutdown), then SIGKILL past a deadline. PostgreSQL refuses to run as root, so
under root (CI, this machine) both run as the `postgres` user the Debian package creates (or `nobody`), in a folder
that user owns. Connections from 127.0.0.1 are trusted, except for roles in `password_users` (scram-sha-256), which
`add_password_user` makes for tests of a refused password. Unix sockets are off: nothing but the port is opened.

`postgres_server` (session) starts one per test session; `postgres_url` gives each test a database of its own on
it. Both skip, saying why, only when the binaries are missing: `scripts/test.sh` installs them.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.router_process import free_port

if TYPE_CHECKING:
    from ccrouter.ledger.postgres_store import PostgresLedger


def _newest_bin() -> Path:
    """Debian's binaries of the newest PostgreSQL installed (/usr/lib/postgresql/<major>/bin), or $CCR_TEST_PG_BIN."""
    if "CCR_TEST_PG_BIN" in os.environ:
        return Path(os.environ["CCR_TEST_PG_BIN"])
    found = [path for path in Path("/usr/lib/postgresql").glob("*/bin") if path.parent.name.isdigit()]
    return max(found, key=lambda path: int(path.parent.name), default=Path("/usr/lib/postgresql/15/bin"))


PG_BIN = _newest_bin()
SUPERUSER = "ccr"
PASSWORD_GROUP = "password_users"  # roles in this group must give their password (pg_hba.conf below)
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# Speed over durability: a test cluster is thrown away, and fsyncs would dominate on a slow disk.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "timezone": "UTC",
}
DATABASE_LOCALE = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
HBA = f"""# written by tests/support/postgres_server.py: loopback TCP only
host all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
"""


def missing_binaries() -> str | None:
    """Why a PostgreSQL server cannot be started here, or None when it can."""
    for name in ("initdb", "postgres", "pg_isready"):
        if not os.access(PG_BIN / name, os.X_OK):
            return f"{PG_BIN / name} is not installed (apt-get install postgresql; scripts/test.sh does)"
    return None


class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1:`port`. `start`, `stop` and `restart` keep the port and the data."""

    def __init__(self) -> None:
        self.account = _server_account()
        self.root = Path(tempfile.mkdtemp(prefix="ccr-test-postgres-"))
        os.chown(self.root, self.account.pw_uid, self.account.pw_gid)
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._databases = itertools.count(1)
        self._initdb()

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        credentials = f"{user}:{password}" if password is not None else user
        return f"postgresql://{credentials}@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> PostgresServer:
        settings = [arg for name, value in SERVER_SETTINGS.items() for arg in ("-c", f"{name}={value}")]
        with self.log_path.open("ab") as log:
            self.proc = self._run_as_account(
                [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), *settings],
                stdout=log,
                stderr=log,
            )
        self._wait_until_ready()
        return self

    def stop(self) -> None:
        """Fast shutdown by pid (SIGINT: sessions are ended, the cluster is left consistent); SIGKILL past the
        deadline."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def restart(self) -> PostgresServer:
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

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

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement as the superuser (autocommit) and return its rows, if any."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=10) as connection:
            cursor = connection.execute(sql.encode())
            return cursor.fetchall() if cursor.description else []

    # -----------------------------------------------------------------------------------------------------------

    def _initdb(self) -> None:
        command = [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust"]
        command += ["-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        with self.log_path.open("ab") as log:
            initdb = self._run_as_account(command, stdout=log, stderr=log)
            if initdb.wait(START_TIMEOUT_S) != 0:
                raise RuntimeError(f"initdb failed ({initdb.returncode}): {self.log_tail()}")
        (self.data / "pg_hba.conf").write_text(HBA)

    def _wait_until_ready(self) -> None:
        """pg_isready until it says the server accepts connections; then the password group is made (once)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        ready = [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER]
        while subprocess.run(ready, check=False, timeout=START_TIMEOUT_S).returncode != 0:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with code {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"postgres did not accept connections within {START_TIMEOUT_S} s")
            time.sleep(0.05)
        if not self.execute(f"SELECT 1 FROM pg_roles WHERE rolname = '{PASSWORD_GROUP}'"):
            self.execute(f"CREATE ROLE {PASSWORD_GROUP} NOLOGIN")

    def _run_as_account(self, command: list[str], **streams: Any) -> subprocess.Popen[bytes]:
        as_other = self.account.pw_uid != os.geteuid()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC", "HOME": str(self.root)}
        return subprocess.Popen(
            command,
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            user=self.account.pw_uid if as_other else None,
            group=self.account.pw_gid if as_other else None,
            extra_groups=[] if as_other else None,
            **streams,
        )

    def log_tail(self, characters: int = 2_000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except OSError:
            return "(no log)"


def _server_account() -> pwd.struct_passwd:
    """Who runs the server: this user, or under root (which PostgreSQL refuses) `postgres`, else `nobody`."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as")


def start_postgres() -> PostgresServer:
    """A started server; skips the test when the binaries are missing."""
    reason = missing_binaries()
    if reason:
        pytest.skip(reason)
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
