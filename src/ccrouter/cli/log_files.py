"""The service's JSON-lines log as files: `<config dir>/logs/ccr-router.log` and its rotated predecessors
`ccr-router.1.log` ... `ccr-router.5.log`, read backwards for the last lines and followed live across rotations.

Which lines a view wants is a `Selection`; how they look is `log_table`'s business. Standard library only:
`ccr logs` and `ccr status` must start fast (the service's own `gateway.logs` pulls in orjson).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ccrouter.paths import LOG_FILE, default_config_path, home_dir, log_dir_of
from ccrouter.service.pidfile import read_pid_file

_ROTATED = re.compile("^" + re.escape(LOG_FILE.removesuffix(".log")) + r"\.(\d+)\.log$")
_BLOCK = 64 * 1024

Entry = dict[str, Any]


def log_directory(config_path: Path) -> Path:
    """Where the service started with `config_path` writes its log."""
    return Path(log_dir_of(config_path))


def service_log_directory(config_path: Path | None) -> Path:
    """The log directory `ccr logs` reads: that of the service's config (`service_config_path`)."""
    return log_directory(service_config_path(config_path))


def service_config_path(config_path: Path | None) -> Path:
    """The config whose files (logs, ledger) `ccr logs` and `ccr usage` read: `config_path` when the user names one
    (`ccr --config`), else the config the service of `$CCR_HOME` runs with (its pid file says), else the default."""
    if config_path is not None:
        return config_path.expanduser().resolve()
    with contextlib.suppress(OSError, ValueError):
        info = read_pid_file(Path(home_dir()))
        if info is not None and info.config:
            return Path(info.config)
    return Path(default_config_path())


def log_files(directory: Path) -> list[Path]:
    """The log files, oldest first: the rotated ones by falling number, then the current one (if there)."""
    rotated: list[tuple[int, Path]] = []
    with contextlib.suppress(OSError):
        for path in directory.iterdir():
            match = _ROTATED.match(path.name)
            if match:
                rotated.append((int(match.group(1)), path))
    files = [path for _, path in sorted(rotated, reverse=True)]
    current = directory / LOG_FILE
    if current.exists():
        files.append(current)
    return files


def parse(line: str) -> Entry | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def is_request(entry: Mapping[str, Any]) -> bool:
    return entry.get("msg") == "request"


@dataclass(frozen=True)
class Selection:
    """Which lines to show: `session` (an id or its prefix) keeps only that session's requests; `raw` (--json)
    keeps every line, debug included."""

    session: str | None = None
    raw: bool = False

    def wants(self, line: str) -> Entry | None:
        """The parsed line if it is to be shown, else None."""
        if self.session is not None and self.session not in line:
            return None  # cheap pre-filter: most lines are not parsed at all
        entry = parse(line)
        if entry is None:
            return None
        if self.session is not None:
            session_id = entry.get("session_id")
            return entry if isinstance(session_id, str) and session_id.startswith(self.session) else None
        if self.raw or is_request(entry) or entry.get("level") != "debug":
            return entry
        return None


def _lines_backwards(f: IO[bytes], end: int) -> Iterator[str]:
    """The lines of `f` before offset `end`, last first. Reads from the end in blocks; the pieces of a line longer
    than a block are joined once, when its start is found (not block by block: a 40 MB line took 14 s)."""
    pos = end
    tail: list[bytes] = []  # the pieces of the line being read backwards, last piece first
    while pos > 0:
        size = min(_BLOCK, pos)
        pos -= size
        f.seek(pos)
        parts = f.read(size).split(b"\n")
        if len(parts) == 1:
            tail.append(parts[0])
            continue
        tail.append(parts[-1])
        yield from _decoded(b"".join(reversed(tail)))
        for part in reversed(parts[1:-1]):
            yield from _decoded(part)
        tail = [parts[0]]
    yield from _decoded(b"".join(reversed(tail)))


def _decoded(line: bytes) -> Iterator[str]:
    """The line as text, unless it is blank."""
    if line.strip():
        yield line.decode("utf-8", "replace")


def complete_end(f: IO[bytes]) -> int:
    """The offset just past the last complete line (a line being written is left for the follower)."""
    size = f.seek(0, os.SEEK_END)
    pos = size
    while pos > 0:
        step = min(_BLOCK, pos)
        f.seek(pos - step)
        index = f.read(step).rfind(b"\n")
        if index >= 0:
            return pos - step + index + 1
        pos -= step
    return 0


def tail(
    directory: Path, count: int, selection: Selection, current: IO[bytes] | None = None, end: int | None = None
) -> list[tuple[str, Entry]]:
    """The last `count` selected lines over the current and the rotated files, oldest first. `current`/`end`: the
    already open current file and where to stop reading it (what follows is for the follower)."""
    found: list[tuple[str, Entry]] = []
    if count <= 0:
        return found
    for path in reversed(log_files(directory)):
        try:
            if path.name == LOG_FILE and current is not None:
                lines = _lines_backwards(current, end if end is not None else complete_end(current))
                found.extend(_take(lines, selection, count - len(found)))
            else:
                with path.open("rb") as f:
                    found.extend(_take(_lines_backwards(f, f.seek(0, os.SEEK_END)), selection, count - len(found)))
        except OSError:
            continue  # rotated away meanwhile
        if len(found) >= count:
            break
    found.reverse()
    return found


def _take(lines: Iterator[str], selection: Selection, count: int) -> list[tuple[str, Entry]]:
    taken: list[tuple[str, Entry]] = []
    for line in lines:
        entry = selection.wants(line)
        if entry is not None:
            taken.append((line, entry))
            if len(taken) >= count:
                break
    return taken


def last_request(directory: Path, max_lines: int = 5000) -> Entry | None:
    """The newest request line of the log (looking at most `max_lines` back), for `ccr status`."""
    seen = 0
    for path in reversed(log_files(directory)):
        try:
            with path.open("rb") as f:
                for line in _lines_backwards(f, f.seek(0, os.SEEK_END)):
                    entry = parse(line) if '"request"' in line else None
                    if entry is not None and is_request(entry):
                        return entry
                    seen += 1
                    if seen >= max_lines:
                        return None
        except OSError:
            continue
    return None


def follow(
    path: Path,
    f: IO[bytes] | None,
    offset: int,
    selection: Selection,
    emit: Callable[[str, Entry], None],
    flush: Callable[[], None],
    poll_s: float,
    should_stop: Callable[[], bool] | None,
) -> None:
    """Hand the selected lines appended to `path` from `offset` on to `emit` (then `flush`), until `should_stop`
    or an exception; when the file is replaced (rotation) or truncated, finish the old one and go on with the new
    one from its start. `f` is `path` already open (or None), and is closed at the end."""
    inode = os.fstat(f.fileno()).st_ino if f is not None else None
    if f is not None:
        f.seek(offset)
    pending = b""

    def feed(data: bytes) -> None:
        nonlocal pending
        pending += data
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", "replace")
            entry = selection.wants(line) if line.strip() else None
            if entry is not None:
                emit(line, entry)
        if complete:
            flush()

    try:
        while should_stop is None or not should_stop():
            if f is None:
                try:
                    f = path.open("rb")
                except FileNotFoundError:
                    time.sleep(poll_s)
                    continue
                inode, pending = os.fstat(f.fileno()).st_ino, b""
            data = f.read()
            if data:
                feed(data)
                continue
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                stat = None
            if stat is None or stat.st_ino != inode:  # rotated: the old file is complete, read its rest
                feed(f.read() + (b"\n" if pending else b""))
                f.close()
                f = None
                continue
            if stat.st_size < f.tell():  # truncated in place
                f.seek(0)
                pending = b""
                continue
            time.sleep(poll_s)
    finally:
        if f is not None:
            f.close()
