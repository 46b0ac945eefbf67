"""For the `ccr` CLI tests: a temporary CCR_HOME with a config, a runner for the real `ccr` console command, and a
cleanup that stops whatever the test started (`ccr stop`, then a kill of any process still serving this home's
config)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ccrouter.paths import PID_FILE
from tests.support.fake_upstream import ScriptedUpstream
from tests.support.router_process import free_port

_DROPPED_ENV = ("CCR_HOME", "ANTHROPIC_API_KEY", "CLAUDE_PATH")


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def ccr_command() -> list[str]:
    """The installed `ccr` console script beside this Python, else `python -m ccrouter.cli.main`."""
    script = Path(sys.executable).with_name("ccr")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ccrouter.cli.main"]


def fake_provider_config(upstream: ScriptedUpstream, port: int, **extra: Any) -> dict[str, Any]:
    return {
        "HOST": "127.0.0.1",
        "PORT": port,
        "Providers": [
            {
                "name": "fake",
                "api_base_url": f"{upstream.url}/v1/chat/completions",
                "api_key": "sk-test-provider-key-123456",
                "models": ["fake-model"],
            }
        ],
        "Router": {"default": "fake,fake-model"},
        **extra,
    }


class CcrHome:
    def __init__(self, root: Path) -> None:
        self.home = root / "ccr-home"
        self.home.mkdir(parents=True)
        self.config_path = self.home / "config.json"
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        self.env["CCR_HOME"] = str(self.home)
        self.seen_pids: set[int] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / PID_FILE

    def write_config(self, config: dict[str, Any]) -> None:
        """`config` as the home's config file, private as `ccr init` writes it (the keys in the test configs are
        written out: readable by others, `ccr start` and `ccr config check` would warn)."""
        self.config_path.write_text(json.dumps(config, indent=2))
        os.chmod(self.config_path, 0o600)

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        input: str | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*ccr_command(), *args],
            env=env if env is not None else self.env,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            check=False,
        )
        self.remember_pid()
        return result

    def pid_info(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        self.seen_pids.add(int(data["pid"]))
        return data

    def remember_pid(self) -> None:
        self.pid_info()

    def server_pids(self) -> list[int]:
        """Live processes serving this home's config (found through /proc, so even unrecorded ones)."""
        needle = str(self.config_path).encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if b"ccrouter.gateway.server" in cmdline and needle in cmdline and state not in ("Z", "X"):
                pids.append(int(entry.name))
        return pids

    def cleanup(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run([*ccr_command(), "stop"], env=self.env, capture_output=True, timeout=30, check=False)
        for pid in {*self.seen_pids, *self.server_pids()}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if Path(f"/proc/{pid}").exists() and _is_ours(pid, self.config_path):
                    os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.server_pids() and time.monotonic() < deadline:
            time.sleep(0.05)


def _is_ours(pid: int, config_path: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(config_path).encode() in cmdline or b"ccr" in cmdline
