"""`ccr logs`: the service's JSON-lines log (`<config dir>/logs/ccr-router.log` and its rotated predecessors
`ccr-router.1.log` ... `ccr-router.5.log`) as a readable table, or raw, and followed live.

Request lines (msg "request") become one table row each: time, session, scenario -> provider,model, status,
latency, time to first token and tokens. Other lines (the service starting, a config change that was not
applied, a custom router that failed) are shown as time, level and message with their fields, because they
explain the rows around them; debug lines (request bodies) are left to `--json`.

Only the standard library is imported here: `ccr logs` and `ccr status` must start fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from ccrouter.paths import home_dir

LOG_FILE_NAME = "ccr-router.log"  # as logs.LOG_FILE_NAME (not imported: logs.py pulls in orjson)
_ROTATED = re.compile(r"^ccr-router\.(\d+)\.log$")
_BLOCK = 64 * 1024
_POLL_S = 0.25
_SHORT_SESSION = 8
_MAX_FIELD = 400
_HIDDEN_FIELDS = frozenset({"ts", "level", "msg", "exc_info", "body"})

Entry = dict[str, Any]


def log_directory(config_path: Path) -> Path:
    """Where the service started with `config_path` writes its log (as `Config.home / "logs"`)."""
    return config_path.parent / "logs"


def default_home() -> Path:
    """As `config.default_home`, without importing the config loader (json5) for a fast `ccr logs`."""
    return Path(home_dir())


def service_log_directory(config_path: Path | None) -> Path:
    """The log directory `ccr logs` reads: that of `config_path` when the user names one (`ccr --config`), else
    that of the config the service of `$CCR_HOME` runs with (its pid file says), else that of the default config."""
    if config_path is not None:
        return log_directory(config_path.expanduser().resolve())
    home = default_home()
    from ccrouter.service.control import read_pid_file

    with contextlib.suppress(OSError, ValueError):
        info = read_pid_file(home)
        if info is not None and info.config:
            return log_directory(Path(info.config))
    return log_directory(home / "config.json")


def log_files(directory: Path) -> list[Path]:
    """The log files, oldest first: the rotated ones by falling number, then the current one (if there)."""
    rotated: list[tuple[int, Path]] = []
    with contextlib.suppress(OSError):
        for path in directory.iterdir():
            match = _ROTATED.match(path.name)
            if match:
                rotated.append((int(match.group(1)), path))
    files = [path for _, path in sorted(rotated, reverse=True)]
    current = directory / LOG_FILE_NAME
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
    """The lines of `f` before offset `end`, last first."""
    pos = end
    rest = b""
    while pos > 0:
        size = min(_BLOCK, pos)
        pos -= size
        f.seek(pos)
        parts = (f.read(size) + rest).split(b"\n")
        rest = parts[0]
        for part in reversed(parts[1:]):
            if part.strip():
                yield part.decode("utf-8", "replace")
    if rest.strip():
        yield rest.decode("utf-8", "replace")


def _complete_end(f: IO[bytes]) -> int:
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
            if path.name == LOG_FILE_NAME and current is not None:
                lines = _lines_backwards(current, end if end is not None else _complete_end(current))
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


# ---------------------------------------------------------------------------------------------------------------
# Formatting


def use_color(stream: IO[str], environ: Mapping[str, str] = os.environ) -> bool:
    """Escape codes only for a terminal that understands them (not TERM=dumb, not NO_COLOR)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and environ.get("TERM", "") not in ("", "dumb") and "NO_COLOR" not in environ


_COLORS = {"red": "31", "green": "32", "yellow": "33", "dim": "2", "bold": "1", "cyan": "36"}


class TableFormatter:
    """Formats entries as table lines. Keeps the date of the last line to print a date line when it changes."""

    def __init__(self, color: bool, route_width: int = 34, today: float | None = None) -> None:
        self.color = color
        self.route_width = route_width
        self._last_date = time.strftime("%Y-%m-%d", time.localtime(today if today is not None else time.time()))

    def _paint(self, text: str, color: str) -> str:
        return f"\x1b[{_COLORS[color]}m{text}\x1b[0m" if self.color else text

    def fit(self, entries: list[Entry]) -> None:
        """Widen the route column for the longest route among `entries` (up to 60 characters)."""
        widths = [len(route_label(e)) for e in entries if is_request(e)]
        self.route_width = max(self.route_width, min(60, max(widths, default=0)))

    def header(self) -> str:
        text = (
            f"{'TIME':<8}  {'SESSION':<{_SHORT_SESSION}}  {'ROUTE':<{self.route_width}}  {'STATUS':>6}  "
            f"{'LATENCY':>8}  {'TTFT':>8}  TOKENS"
        )
        return self._paint(text, "bold")

    def lines(self, entry: Entry) -> list[str]:
        """The line(s) for one entry: a date line first when the day changed."""
        ts = _number(entry.get("ts"))
        when = time.localtime(ts) if ts is not None else None
        out: list[str] = []
        if when is not None:
            date = time.strftime("%Y-%m-%d", when)
            if date != self._last_date:
                self._last_date = date
                out.append(self._paint(f"--- {date} ---", "dim"))
        clock = time.strftime("%H:%M:%S", when) if when is not None else "--:--:--"
        out.append(self._request(clock, entry) if is_request(entry) else self._event(clock, entry))
        return out

    def _request(self, clock: str, entry: Entry) -> str:
        status = _int(entry.get("status"))
        session = entry.get("session_id")
        short = session[:_SHORT_SESSION] if isinstance(session, str) and session else "-"
        status_color = "green" if 200 <= status < 300 else ("yellow" if status < 500 and status != 0 else "red")
        status_text = self._paint(f"{status:>6}", status_color)
        ttft = _number(entry.get("ttft_ms"))
        line = (
            f"{clock:<8}  {short:<{_SHORT_SESSION}}  {route_label(entry):<{self.route_width}}  {status_text}  "
            f"{format_ms(_number(entry.get('latency_ms'))):>8}  {format_ms(ttft):>8}  {format_tokens(entry)}"
        )
        error = entry.get("error")
        if error and (status >= 400 or status == 0):
            line += "  " + self._paint(_shorten(str(error), 300), "red")
        return line.rstrip()

    def _event(self, clock: str, entry: Entry) -> str:
        level = str(entry.get("level", "info")).upper()
        color = {"ERROR": "red", "WARN": "yellow"}.get(level, "dim")
        fields = "".join(
            f"  {key}={_shorten(_field_text(value), _MAX_FIELD)}"
            for key, value in entry.items()
            if key not in _HIDDEN_FIELDS
        )
        message = str(entry.get("msg", ""))
        return f"{clock:<8}  {self._paint(f'{level:<{_SHORT_SESSION}}', color)}  {self._paint(message, color)}{fields}"


def route_label(entry: Mapping[str, Any]) -> str:
    scenario = entry.get("scenario")
    provider, model = entry.get("provider"), entry.get("model")
    if provider and model:
        return f"{scenario or '?'} -> {provider},{model}"
    requested = entry.get("requested_model")
    return f"{scenario or '-'} ({requested})" if requested else str(scenario or "-")


def format_ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1000:
        return f"{value:.0f} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s"


def format_tokens(entry: Mapping[str, Any]) -> str:
    input_tokens = _int(entry.get("input_tokens"))
    output_tokens = _int(entry.get("output_tokens"))
    if input_tokens == 0 and output_tokens == 0:
        estimate = _int(entry.get("estimated_input_tokens"))
        return f"~{estimate:,} in (est.)" if estimate else "-"
    text = f"{input_tokens:,} in / {output_tokens:,} out"
    cache_read = _int(entry.get("cache_read_input_tokens"))
    cache_write = _int(entry.get("cache_creation_input_tokens"))
    if cache_read:
        text += f", {cache_read:,} cache read"
    if cache_write:
        text += f", {cache_write:,} cache write"
    return text


def format_duration(seconds: float) -> str:
    """Uptime style: 45s, 12m 03s, 5h 02m, 3d 04h."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def summary(entry: Mapping[str, Any]) -> str:
    """One line about a request, for `ccr status`."""
    ts = _number(entry.get("ts"))
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts is not None else "?"
    parts = [when, route_label(entry), f"status {_int(entry.get('status'))}"]
    parts.append(f"{format_ms(_number(entry.get('latency_ms')))}")
    tokens = format_tokens(entry)
    if tokens != "-":
        parts.append(tokens)
    return ", ".join(parts)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _field_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------------------------
# The command


class _Stop(Exception):
    """SIGTERM while following."""


def main(directory: Path, count: int, selection: Selection, follow: bool) -> int:
    """`ccr logs` on stdout; a closed pipe (`ccr logs | head`) ends it quietly."""
    out = sys.stdout
    try:
        return show(directory, count, selection, follow, out, use_color(out))
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())  # so that the interpreter's final flush does not fail again
        return 0


def show(
    directory: Path,
    count: int,
    selection: Selection,
    follow: bool,
    out: IO[str],
    color: bool,
    poll_s: float = _POLL_S,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Print the last `count` selected lines (a table, or raw with `selection.raw`), then with `follow` the new
    ones as they come, across rotations, until Ctrl-C or SIGTERM. Returns the exit code."""
    current_path = directory / LOG_FILE_NAME
    current: IO[bytes] | None = None
    with contextlib.suppress(OSError):
        current = current_path.open("rb")
    try:
        end = _complete_end(current) if current is not None else 0
        history = tail(directory, count, selection, current, end)
        formatter = None if selection.raw else TableFormatter(color)
        emit = _emitter(out, formatter)
        if formatter is not None:
            formatter.fit([entry for _, entry in history])
            if history or follow:
                out.write(formatter.header() + "\n")
        for line, entry in history:
            emit(line, entry)
        out.flush()
        if not history and not follow:
            where = current_path if log_files(directory) else directory
            print(_nothing_message(where, selection), file=sys.stderr)
        if not follow:
            return 0
        handle, current = current, None  # _follow closes it
        with _sigterm_stops(), contextlib.suppress(KeyboardInterrupt, _Stop):
            _follow(current_path, handle, end, selection, emit, out, poll_s, should_stop)
        return 0
    finally:
        if current is not None:
            current.close()


def _nothing_message(where: Path, selection: Selection) -> str:
    if selection.session is not None:
        return f"ccr: no requests of session {selection.session} in {where}."
    if where.name == LOG_FILE_NAME:
        return f"ccr: nothing logged yet in {where}."
    return f"ccr: no log in {where} yet (is LOG false in the config? the service writes it while it runs)."


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    """SIGTERM ends the follow loop like Ctrl-C (only the main thread can set a handler)."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_stop)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _emitter(out: IO[str], formatter: TableFormatter | None) -> Callable[[str, Entry], None]:
    def emit(line: str, entry: Entry) -> None:
        if formatter is None:
            out.write(line.rstrip("\r\n") + "\n")
        else:
            for text in formatter.lines(entry):
                out.write(text + "\n")

    return emit


def _follow(
    path: Path,
    f: IO[bytes] | None,
    offset: int,
    selection: Selection,
    emit: Callable[[str, Entry], None],
    out: IO[str],
    poll_s: float,
    should_stop: Callable[[], bool] | None,
) -> None:
    """Print the lines appended to `path` from `offset` on; when the file is replaced (rotation) or truncated,
    finish the old one and go on with the new one from its start."""
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
            out.flush()

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
