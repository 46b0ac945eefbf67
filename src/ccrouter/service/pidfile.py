"""The service's pid file, `$CCR_HOME/ccr.pid` (JSON): which process serves which URL, with which config, and who
started it.

`ccr stop`, `ccr status` and `ccr code` find the service through it without loading the config (which may be
broken by then). A pid file whose process is gone, or whose pid now belongs to another process, is stale.
(`ccr statusline` reads the same file with its own few lines: this module's imports cost more than its budget.)
Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ccrouter.files import write_atomically
from ccrouter.paths import PID_FILE
from ccrouter.service.client import service_url
from ccrouter.service.processes import is_running, proc_start_time

OWNER_START = "ccr-start"  # started by `ccr start` (or `restart`, `start --foreground`): runs until `ccr stop`
OWNER_CODE = "ccr-code"  # started by `ccr code`: stops when the last `ccr code` session ends


@dataclass(frozen=True)
class PidInfo:
    pid: int
    host: str  # the address clients use (never a wildcard)
    port: int
    config: str
    started_at: float
    proc_start: int | None = None  # the kernel's start time of `pid`, to tell pid reuse apart
    foreground: bool = False
    owner: str = OWNER_START  # who started it: OWNER_START or OWNER_CODE

    @property
    def url(self) -> str:
        return service_url(self.host, self.port)


def pid_path(home: Path) -> Path:
    return home / PID_FILE


def read_pid_file(home: Path) -> PidInfo | None:
    """The pid file's contents; None when there is none. A corrupt file raises ValueError."""
    try:
        text = pid_path(home).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data: Any = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    try:
        return PidInfo(
            pid=int(data["pid"]),
            host=str(data["host"]),
            port=int(data["port"]),
            config=str(data.get("config", "")),
            started_at=float(data.get("started_at", 0)),
            proc_start=int(data["proc_start"]) if data.get("proc_start") is not None else None,
            foreground=bool(data.get("foreground", False)),
            owner=OWNER_CODE if data.get("owner") == OWNER_CODE else OWNER_START,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"missing or bad field {exc}") from None


def write_pid_file(home: Path, info: PidInfo) -> None:
    data = {**asdict(info), "url": info.url}
    write_atomically(pid_path(home), (json.dumps(data, indent=2) + "\n").encode("utf-8"), durable=False)


def remove_pid_file(home: Path, pid: int | None = None) -> None:
    """Remove the pid file; with `pid`, only if it still names that process."""
    if pid is not None:
        try:
            current = read_pid_file(home)
        except ValueError:
            current = None
        if current is not None and current.pid != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        pid_path(home).unlink()


def is_alive(info: PidInfo) -> bool:
    """The process in the pid file is alive and is still the one that wrote it (not a reused pid)."""
    return is_running(info.pid, info.proc_start)


@contextlib.contextmanager
def foreground_pid_file(home: Path, host: str, port: int, config_path: Path) -> Iterator[PidInfo]:
    """Record this process as the service for as long as the block runs (`ccr start --foreground`)."""
    pid = os.getpid()
    info = PidInfo(pid, host, port, str(config_path), time.time(), proc_start_time(pid), foreground=True)
    write_pid_file(home, info)
    try:
        yield info
    finally:
        remove_pid_file(home, pid)
