"""The real ccrouter service as a child process on a free loopback port, with its own CCR_HOME."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.served_router import ServedRouter


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(url: str, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the router exited with code {proc.returncode} before answering /health")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url}/health did not answer within {timeout} s")


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class RouterProcess(ServedRouter):
    def __init__(self, home: Path, config: dict[str, Any], env: dict[str, str] | None = None) -> None:
        super().__init__(home, int(config.get("PORT") or free_port()))
        self.write_config(config)
        self.env = {**os.environ, "CCR_HOME": str(home), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = home / "stderr.txt"

    def start(self) -> RouterProcess:
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ccrouter.gateway.server", "--config", str(self.config_path)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        try:
            wait_for_health(self.url, proc=self.proc)
        except Exception:
            self.stop()
            raise RuntimeError(f"router failed to start: {self.stderr()}") from None
        return self

    def stop(self) -> None:
        stop_process(self.proc)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
