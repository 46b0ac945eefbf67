"""Processes by pid: whether one runs, when it started (to tell a reused pid apart), and ending one.

The kernel's start time of a process (from /proc on Linux) is recorded beside its pid in the pid file and in the
`ccr code` session files: a pid that runs again but started at another time is another process. Where /proc is
missing, `kill(pid, 0)` alone decides. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

POLL_S = 0.05  # how often a wait looks again


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may contain spaces and parentheses: split after its closing parenthesis.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 overall
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, but belongs to someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: trust kill(0)
    return stat[stat.rfind(")") + 2 :][:1] not in ("Z", "X")


def is_running(pid: int, proc_start: int | None) -> bool:
    """`pid` is alive and is still the process that started at `proc_start` (not a reused pid)."""
    if not pid_alive(pid):
        return False
    return proc_start is None or proc_start_time(pid) in (None, proc_start)


def terminate(pid: int, grace: float) -> bool:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL. True if it had to be killed.

    PermissionError when the process belongs to another user."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_gone(pid, grace):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid, 5.0)
    return True


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for `pid` to end; whether it did."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True
