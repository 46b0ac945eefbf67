"""The running `ccr code` sessions of one `$CCR_HOME`: one small JSON file per session in
`$CCR_HOME/code-sessions/<pid>.json`.

A session counts while its `ccr code` process or the Claude Code it runs is alive (checked against the kernel's
process start time, so a reused pid does not count). Files of dead sessions (a `ccr code` that was killed, a
crash) are removed whenever the sessions are counted. Callers that act on the count (the auto-stop in
`service.control`) hold the service lock, so counting, starting and stopping never interleave.

Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ccrouter.files import write_atomically
from ccrouter.paths import CODE_SESSIONS_DIR
from ccrouter.service.processes import is_running, proc_start_time


@dataclass(frozen=True)
class CodeSession:
    pid: int  # the `ccr code` process
    proc_start: int | None
    started_at: float
    claude_pid: int | None = None  # the Claude Code it runs, once started
    claude_proc_start: int | None = None


def sessions_dir(home: Path) -> Path:
    return home / CODE_SESSIONS_DIR


def _path(home: Path, pid: int) -> Path:
    return sessions_dir(home) / f"{pid}.json"


def register(home: Path, pid: int | None = None) -> CodeSession:
    """Record the calling `ccr code` process (or `pid`) as a running session."""
    pid = os.getpid() if pid is None else pid
    session = CodeSession(pid, proc_start_time(pid), time.time())
    _write(home, session)
    return session


def set_claude(home: Path, session: CodeSession, claude_pid: int) -> CodeSession:
    """Note the Claude Code process of `session`: the session counts while either process lives."""
    updated = CodeSession(session.pid, session.proc_start, session.started_at, claude_pid, proc_start_time(claude_pid))
    _write(home, updated)
    return updated


def unregister(home: Path, pid: int | None = None) -> None:
    with contextlib.suppress(FileNotFoundError):
        _path(home, os.getpid() if pid is None else pid).unlink()


def live_sessions(home: Path) -> list[CodeSession]:
    """The sessions whose `ccr code` or Claude Code still runs; the files of the others are removed."""
    live: list[CodeSession] = []
    try:
        entries = sorted(sessions_dir(home).glob("*.json"))
    except OSError:
        return live
    for path in entries:
        session = _read(path)
        if session is not None and _session_alive(session):
            live.append(session)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return live


def _write(home: Path, session: CodeSession) -> None:
    data = (json.dumps(asdict(session)) + "\n").encode("utf-8")
    write_atomically(_path(home, session.pid), data, durable=False)


def _read(path: Path) -> CodeSession | None:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        return CodeSession(
            pid=int(data["pid"]),
            proc_start=_optional_int(data.get("proc_start")),
            started_at=float(data.get("started_at", 0)),
            claude_pid=_optional_int(data.get("claude_pid")),
            claude_proc_start=_optional_int(data.get("claude_proc_start")),
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _session_alive(session: CodeSession) -> bool:
    if is_running(session.pid, session.proc_start):
        return True
    return session.claude_pid is not None and is_running(session.claude_pid, session.claude_proc_start)
