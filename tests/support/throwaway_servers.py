"""Throwaway PostgreSQL and Redis servers: Debian's binaries, run from a temporary folder on a free loopback port,
each started as a process of ours and stopped by its pid.

The one source for starting them, shared by the test fixtures (postgres_server.py, redis_server.py) and the team
bench (bench/team_services.py, which puts the repository on sys.path for it). So this module imports nothing but
the standard library (psycopg only inside `PostgresServer.execute`): no pytest, nothing else of the test suite.

PostgreSQL: `initdb`, then `postgres` itself (not `pg_ctl`), so the server's pid is ours and it is stopped by that
pid: SIGINT (PostgreSQL's fast shutdown), then SIGKILL past a deadline. PostgreSQL refuses to run as root, so under
root both run as the `postgres` user the Debian package creates (or `nobody`), in a folder that user owns. Unix
sockets are off: nothing but the port is opened. fsync is off: the cluster is thrown away, and fsyncs would
dominate on a slow disk.

Redis: `redis-server` in the foreground with nothing persisted (`--save ''`, no append-only file), as a cache-only
production Redis runs, so a restart on the same port comes back empty. Readiness is a PING answered +PONG over a
plain socket: no Redis client library is needed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar, Self

PG_ROOT = Path("/usr/lib/postgresql")
REDIS_SERVER = os.environ.get("CCR_TEST_REDIS_SERVER", "/usr/bin/redis-server")
SUPERUSER = "ccr"
TRUST_LOOPBACK = "host all all 127.0.0.1/32 trust\n"  # pg_hba.conf: loopback TCP only, no password
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "timezone": "UTC",
}
POSTGRES_START_TIMEOUT_S = 60.0
REDIS_START_TIMEOUT_S = 30.0
KILL_WAIT_S = 10.0


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path:
    """Debian's binaries of the newest PostgreSQL installed (/usr/lib/postgresql/<major>/bin), or $CCR_TEST_PG_BIN."""
    if "CCR_TEST_PG_BIN" in os.environ:
        return Path(os.environ["CCR_TEST_PG_BIN"])
    found = [path for path in PG_ROOT.glob("*/bin") if path.parent.name.isdigit()]
    return max(found, key=lambda path: int(path.parent.name), default=PG_ROOT / "15" / "bin")


def missing_postgres() -> str | None:
    """Why a PostgreSQL server cannot be started here (which binary is missing), or None when it can."""
    for name in ("initdb", "postgres", "pg_isready"):
        if not os.access(postgres_bin() / name, os.X_OK):
            return f"{postgres_bin() / name} is not installed"
    return None


def missing_redis() -> str | None:
    """Why a Redis server cannot be started here (the binary is missing), or None when it can."""
    if not os.access(REDIS_SERVER, os.X_OK):
        return f"{REDIS_SERVER} is not installed"
    return None


def server_account() -> pwd.struct_passwd:
    """Who runs PostgreSQL: this user, or under root (which PostgreSQL refuses) `postgres`, else `nobody`."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as")


class ThrowawayServer:
    """What both servers share: a process of ours serving 127.0.0.1:`port` from `root` (its folder, where it logs to
    LOG_NAME), stopped by its pid. `start`, `stop` and `restart` keep the port."""

    LOG_NAME: ClassVar[str]
    STOP_SIGNAL: ClassVar[int]
    STOP_TIMEOUT_S: ClassVar[float]

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log_path = root / self.LOG_NAME
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> Self:
        """Start the server and return once it answers."""
        raise NotImplementedError

    def stop(self) -> None:
        """STOP_SIGNAL by pid; SIGKILL when it still runs STOP_TIMEOUT_S later."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(self.STOP_SIGNAL)
        try:
            proc.wait(self.STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(KILL_WAIT_S)

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, characters: int = 2_000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except OSError:
            return "(no log)"


class PostgresServer(ThrowawayServer):
    """A fresh cluster (made here, by initdb) in `root`, an empty folder given to the account that runs the server.
    `hba` is its pg_hba.conf. The data, too, stays across `stop` and `start`. `url()` and `execute()` use
    `default_database` unless told another."""

    LOG_NAME = "postgres.log"
    STOP_SIGNAL = signal.SIGINT  # PostgreSQL's fast shutdown: sessions are ended, the cluster is left consistent
    STOP_TIMEOUT_S = 30.0

    def __init__(self, root: Path, hba: str = TRUST_LOOPBACK) -> None:
        super().__init__(root)
        self.account = server_account()
        os.chown(self.root, self.account.pw_uid, self.account.pw_gid)
        self.data = self.root / "data"
        self.bin = postgres_bin()
        self.default_database = "postgres"
        self._initdb(hba)

    def url(self, database: str | None = None, user: str = SUPERUSER, password: str | None = None) -> str:
        credentials = f"{user}:{password}" if password is not None else user
        return f"postgresql://{credentials}@127.0.0.1:{self.port}/{database or self.default_database}"

    def start(self) -> Self:
        """Start `postgres` and wait until it accepts connections."""
        settings = [arg for name, value in SERVER_SETTINGS.items() for arg in ("-c", f"{name}={value}")]
        self.proc = self._run_as_account(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), *settings]
        )
        self._wait_until_ready()
        return self

    def execute(self, sql: str, database: str | None = None) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser (autocommit) and return its rows, if any."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=10) as connection:
            cursor = connection.execute(sql.encode())
            return cursor.fetchall() if cursor.description else []

    # -----------------------------------------------------------------------------------------------------------

    def _initdb(self, hba: str) -> None:
        command = [str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust"]
        command += ["-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        initdb = self._run_as_account(command)
        if initdb.wait(POSTGRES_START_TIMEOUT_S) != 0:
            raise RuntimeError(f"initdb failed ({initdb.returncode}; see {self.log_path}): {self.log_tail()}")
        (self.data / "pg_hba.conf").write_text(hba)

    def _wait_until_ready(self) -> None:
        """pg_isready until it says the server accepts connections."""
        deadline = time.monotonic() + POSTGRES_START_TIMEOUT_S
        ready = [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER]
        while subprocess.run(ready, check=False, timeout=POSTGRES_START_TIMEOUT_S).returncode != 0:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with code {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"postgres did not accept connections within {POSTGRES_START_TIMEOUT_S} s (see {self.log_path})"
                )
            time.sleep(0.05)

    def _run_as_account(self, command: list[str]) -> subprocess.Popen[bytes]:
        """`command` as the server's account, in its folder, its output appended to the log."""
        as_other = self.account.pw_uid != os.geteuid()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC", "HOME": str(self.root)}
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                command,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                user=self.account.pw_uid if as_other else None,
                group=self.account.pw_gid if as_other else None,
                extra_groups=[] if as_other else None,
            )


class RedisServer(ThrowawayServer):
    """redis-server in `root` (an existing folder; only its log is written there). The data goes at `stop`: a
    restart comes back empty, as a Redis without persistence does."""

    LOG_NAME = "redis.log"
    STOP_SIGNAL = signal.SIGTERM  # nothing to save: it exits at once
    STOP_TIMEOUT_S = 15.0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        """Start redis-server and wait until it answers PING."""
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.root), "--daemonize", "no", "--logfile", str(self.log_path)]
        self.proc = subprocess.Popen(
            command, cwd=self.root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_until_ready()
        return self

    def command(self, *words: str) -> bytes:
        """Send one command (RESP) and return the first line of the answer, e.g. b"+PONG"."""
        request = f"*{len(words)}\r\n" + "".join(f"${len(word.encode())}\r\n{word}\r\n" for word in words)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            connection.sendall(request.encode())
            answer = b""
            while not answer.endswith(b"\r\n"):
                chunk = connection.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return answer.split(b"\r\n", 1)[0]

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {self.proc.returncode}: {self.log_tail()}")
            try:
                if self.command("PING") == b"+PONG":
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"redis-server did not answer PING within {REDIS_START_TIMEOUT_S} s (see {self.log_path})"
                )
            time.sleep(0.02)
