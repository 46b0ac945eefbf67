"""A real Redis server for tests: Debian's `redis-server` on a free loopback port, in a temporary folder.

`RedisServer` starts the binary itself and knows its pid: it is stopped by that pid (SIGTERM, SIGKILL past a
deadline). Nothing is persisted (`--save ''`, no append-only file), as a cache-only production Redis runs, so
`restart()` on the same port comes back empty: what a crash or a restart of such a Redis does to the routers using
it (the "Redis stopped mid-load" tests). Readiness is a PING answered +PONG, over a plain socket, so the helper needs
no Redis client library.

`redis_server` (session) starts one per test session; `redis_url` flushes it for each test and gives its URL. Both
skip, saying why, only when `redis-server` is missing: `scripts/test.sh` installs it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.router_process import free_port

REDIS_SERVER = os.environ.get("CCR_TEST_REDIS_SERVER", "/usr/bin/redis-server")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def missing_binary() -> str | None:
    """Why a Redis server cannot be started here, or None when it can."""
    if not os.access(REDIS_SERVER, os.X_OK):
        return f"{REDIS_SERVER} is not installed (apt-get install redis-server; scripts/test.sh does)"
    return None


class RedisServer:
    """One redis-server on 127.0.0.1:`port`. `start`, `stop` and `restart` keep the port; the data goes."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ccr-test-redis-"))
        self.log_path = self.root / "redis.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> RedisServer:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.root), "--daemonize", "no", "--logfile", str(self.log_path)]
        self.proc = subprocess.Popen(
            command,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_ready()
        return self

    def stop(self) -> None:
        """SIGTERM by pid (nothing to save: it exits at once); SIGKILL past the deadline."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def restart(self) -> RedisServer:
        """Stop and start again on the same port, empty (as a Redis without persistence comes back)."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

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

    def log_tail(self, characters: int = 2_000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except OSError:
            return "(no log)"

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
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
                raise TimeoutError(f"redis-server did not answer PING within {START_TIMEOUT_S} s")
            time.sleep(0.02)


def start_redis() -> RedisServer:
    """A started server; skips the test when redis-server is missing."""
    reason = missing_binary()
    if reason:
        pytest.skip(reason)
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
