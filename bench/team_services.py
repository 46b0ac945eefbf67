"""The shared services of a team bench run: a real PostgreSQL, a real Redis and nginx, each in a temporary folder on
a free loopback port, each started as its own process and stopped by its pid.

The approach is the test suite's (tests/support/postgres_server.py, redis_server.py), copied rather than imported:
bench/ must not depend on tests/. PostgreSQL refuses to run as root, so under root it runs as the `postgres` user
the Debian package creates (or `nobody`), in a folder that user owns; Redis keeps nothing on disk; nginx runs with
`daemon off` from a config written to the temp folder (`-p DIR -c nginx.conf`), so its master's pid is the one we
hold.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from procs import Proc, free_port

PG_ROOT = Path("/usr/lib/postgresql")
REDIS_SERVER = "/usr/bin/redis-server"
NGINX = "/usr/sbin/nginx"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
PG_USER = "ccr"
PG_DATABASE = "ccr_bench"
# A bench cluster is thrown away: no fsync. Room for the three instances' writers and the final count.
PG_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "timezone": "UTC",
}


def missing_binaries() -> str | None:
    """What to install before a team run, or None when PostgreSQL, Redis and nginx are all there."""
    pg_bin = postgres_bin()
    for path in (pg_bin / "initdb", pg_bin / "postgres", pg_bin / "pg_isready", Path(REDIS_SERVER), Path(NGINX)):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: apt-get install -y postgresql redis-server nginx"
    return None


def postgres_bin() -> Path:
    """Debian's binaries of the newest PostgreSQL installed (/usr/lib/postgresql/<major>/bin)."""
    found = [path for path in PG_ROOT.glob("*/bin") if path.parent.name.isdigit()]
    return max(found, key=lambda path: int(path.parent.name), default=PG_ROOT / "15" / "bin")


def _account() -> pwd.struct_passwd:
    """Who runs PostgreSQL: this user, or under root (which PostgreSQL refuses) `postgres`, else `nobody`."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as")


class Postgres:
    """A fresh cluster in `root`/pg on 127.0.0.1:`port`, with one database (PG_DATABASE) for the shared ledger."""

    def __init__(self, root: Path) -> None:
        self.account = _account()
        root.chmod(0o755)  # the `postgres` account must reach its folder inside ours
        self.root = root / "pg"
        self.root.mkdir()
        os.chown(self.root, self.account.pw_uid, self.account.pw_gid)
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = free_port()
        self.bin = postgres_bin()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, database: str = PG_DATABASE) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """initdb, start `postgres` itself (not pg_ctl: its pid is ours), wait for pg_isready, make the database."""
        initdb = [str(self.bin / "initdb"), "-D", str(self.data), "-U", PG_USER, "-A", "trust", "-E", "UTF8"]
        initdb += ["--locale=C", "--no-sync", "--no-instructions"]
        if self._run(initdb).wait(START_TIMEOUT_S) != 0:
            raise RuntimeError(f"initdb failed: {self.log_tail()}")
        (self.data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
        settings = [arg for name, value in PG_SETTINGS.items() for arg in ("-c", f"{name}={value}")]
        self.proc = self._run([str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), *settings])
        ready = [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER]
        deadline = time.monotonic() + START_TIMEOUT_S
        while subprocess.run(ready, check=False, timeout=START_TIMEOUT_S).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start (see {self.log_path}): {self.log_tail()}")
            time.sleep(0.05)
        self.execute(f'CREATE DATABASE "{PG_DATABASE}"', database="postgres")

    def execute(self, sql: str, database: str = PG_DATABASE) -> list[tuple[Any, ...]]:
        """One statement (autocommit); its rows, if any."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=10) as connection:
            cursor = connection.execute(sql.encode())
            return cursor.fetchall() if cursor.description else []

    def stop(self) -> None:
        """Fast shutdown by pid (SIGINT); SIGKILL past the deadline."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def log_tail(self, characters: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except OSError:
            return "(no log)"

    def _run(self, command: list[str]) -> subprocess.Popen[bytes]:
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


class Redis:
    """redis-server on 127.0.0.1:`port`, nothing persisted (as a cache-only production Redis runs)."""

    def __init__(self, root: Path) -> None:
        self.root = root / "redis"
        self.root.mkdir()
        self.log_path = self.root / "redis.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.root), "--daemonize", "no", "--logfile", str(self.log_path)]
        command += ["--maxclients", "10000"]
        self.proc = subprocess.Popen(command, cwd=self.root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._pong():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer PING (see {self.log_path})")
            time.sleep(0.02)

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as connection:
                connection.sendall(b"*1\r\n$4\r\nPING\r\n")
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def nginx_conf(port: int, instance_ports: list[int], temp: Path) -> str:
    """docs/TEAM.md's snippet on loopback, without TLS: the three instances, session hashing, no buffering."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;" for p in instance_ports)
    user = "user www-data www-data;" if os.geteuid() == 0 else ""  # nginx drops root for its worker
    temps = "\n".join(
        f"    {kind}_temp_path {temp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""# written by bench/team_services.py
daemon off;
{user}
worker_processes 1;
worker_rlimit_nofile 16384;
pid nginx.pid;
error_log nginx-error.log warn;
events {{
    worker_connections 8192;
}}
http {{
    access_log off;
{temps}
    client_body_buffer_size 1m;          # request bodies stay in memory
    upstream ccrouter {{
        hash $http_x_claude_code_session_id consistent;
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        client_max_body_size 64m;
        location / {{
            proxy_pass http://ccrouter;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
        }}
    }}
}}
"""


def start_nginx(root: Path, instance_ports: list[int], env: dict[str, str]) -> tuple[Proc, int]:
    """nginx in the foreground (`daemon off`, `-p DIR -c nginx.conf`) in front of the instances; (its Proc, port).
    The caller waits for it to answer (Proc.wait_http), once it holds the Proc to stop it."""
    folder = root / "nginx"
    folder.mkdir()
    for path in (root, folder):
        path.chmod(0o755)  # its worker runs as www-data under root and must reach the temp folders
    port = free_port()
    (folder / "nginx.conf").write_text(nginx_conf(port, instance_ports, folder))
    command = [NGINX, "-p", f"{folder}/", "-c", str(folder / "nginx.conf"), "-e", str(folder / "nginx-error.log")]
    return Proc("nginx", command, env, folder, folder / "nginx.out"), port
