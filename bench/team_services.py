"""The shared services of a team bench run: a real PostgreSQL, a real Redis and nginx, each in a temporary folder on
a free loopback port, each started as its own process and stopped by its pid.

PostgreSQL and Redis are started as the test suite starts them, by the same code: tests/support/throwaway_servers.py
(standard library only, no pytest), imported with the repository on sys.path. nginx runs with `daemon off` from a
config written to the temp folder (`-p DIR -c nginx.conf`), so its master's pid is the one we hold.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Self

from gateways import REPO_DIR
from procs import Proc, free_port

sys.path.insert(0, str(REPO_DIR))  # the `tests` package: tests/support/throwaway_servers.py
from tests.support.throwaway_servers import PostgresServer, RedisServer, missing_postgres, missing_redis

NGINX = "/usr/sbin/nginx"
PG_DATABASE = "ccr_bench"


def missing_binaries() -> str | None:
    """What to install before a team run, or None when PostgreSQL, Redis and nginx are all there."""
    nginx = None if os.access(NGINX, os.X_OK) else f"{NGINX} is not installed"
    missing = missing_postgres() or missing_redis() or nginx
    return f"{missing}: apt-get install -y postgresql redis-server nginx" if missing else None


class Postgres(PostgresServer):
    """A fresh cluster in `root`/pg (its own superuser, fsync off) with one database, PG_DATABASE, for the shared
    ledger: `url()` and `execute()` name it unless told another."""

    def __init__(self, root: Path) -> None:
        root.chmod(0o755)  # the `postgres` account must reach its folder inside ours
        folder = root / "pg"
        folder.mkdir()
        super().__init__(folder)

    def start(self) -> Self:
        super().start()
        if not self.execute(f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"):
            self.execute(f'CREATE DATABASE "{PG_DATABASE}"')
        self.default_database = PG_DATABASE
        return self


class Redis(RedisServer):
    """redis-server in `root`/redis, nothing persisted (as a cache-only production Redis runs)."""

    def __init__(self, root: Path) -> None:
        folder = root / "redis"
        folder.mkdir()
        super().__init__(folder)


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
