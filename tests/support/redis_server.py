"""A real Redis server for tests: Debian's `redis-server` on a free loopback port, in a temporary folder.

Starting and stopping it is throwaway_servers.py's (shared with bench/team.py): the binary started by us and stopped
by its pid, nothing persisted, so `restart()` on the same port comes back empty: what a crash or a restart of a
cache-only Redis does to the routers using it (the "Redis stopped mid-load" tests).

`redis_server` (session) starts one per test session; `redis_url` flushes it for each test and gives its URL. Both
skip, saying why, only when `redis-server` is missing: `scripts/test.sh` installs it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import throwaway_servers
from tests.support.throwaway_servers import missing_redis


class RedisServer(throwaway_servers.RedisServer):
    """One redis-server on 127.0.0.1:`port` in a temporary folder of its own (`close` removes it)."""

    def __init__(self) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="ccr-test-redis-")))


def start_redis() -> RedisServer:
    """A started server; skips the test when redis-server is missing."""
    reason = missing_redis()
    if reason:
        pytest.skip(f"{reason} (apt-get install redis-server; scripts/test.sh does)")
    server = RedisServer()
    try:
        return server.start()
    except BaseException:
        server.close()
        raise


@pytest.fixture(scope="session", name="redis_server")
def redis_server_fixture() -> Iterator[RedisServer]:
    server = start_redis()
    yield server
    server.close()


@pytest.fixture(name="redis_url")
def redis_url_fixture(redis_server: RedisServer) -> str:
    """The session's server, emptied for this test (and started again if a test stopped it)."""
    if redis_server.pid is None:
        redis_server.start()
    assert redis_server.command("FLUSHALL") == b"+OK"
    return redis_server.url
