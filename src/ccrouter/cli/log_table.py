"""How `ccr logs` and `ccr status` show log lines: a table row per request (time, session, scenario ->
provider,model, status, latency, time to first token, tokens), a line per service event with its fields, and the
durations and token counts in words people read.

What the log holds came partly from outside: a client's model name, a provider's error message. Every string of an
entry is made printable before it is shown (`untrusted.printable`), so an escape sequence in one cannot recolour,
retitle or rewrite the user's terminal; the colours the table adds itself are the only escape codes it prints.
Standard library only.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import IO, Any

from ccrouter.cli.log_files import Entry, is_request
from ccrouter.untrusted import MAX_LOG_FIELD_CHARS, clip, printable

_SHORT_SESSION = 8
_MAX_FIELD = 400
_HIDDEN_FIELDS = frozenset({"ts", "level", "msg", "exc_info", "body"})


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
        widths = [len(route_label(printable_entry(e))) for e in entries if is_request(e)]
        self.route_width = max(self.route_width, min(60, max(widths, default=0)))

    def header(self) -> str:
        text = (
            f"{'TIME':<8}  {'SESSION':<{_SHORT_SESSION}}  {'ROUTE':<{self.route_width}}  {'STATUS':>6}  "
            f"{'LATENCY':>8}  {'TTFT':>8}  TOKENS"
        )
        return self._paint(text, "bold")

    def lines(self, entry: Entry) -> list[str]:
        """The line(s) for one entry: a date line first when the day changed."""
        entry = printable_entry(entry)
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
    """`scenario -> provider,model`; a request its turn's pin routed says so: `think (pinned) -> ...`. A client's
    model name can be of any length (older logs kept it whole): the label is clipped."""
    scenario = entry.get("scenario")
    if scenario and entry.get("pinned") is True:
        scenario = f"{scenario} (pinned)"
    provider, model = entry.get("provider"), entry.get("model")
    if provider and model:
        return clip(f"{scenario or '?'} -> {provider},{model}")
    requested = entry.get("requested_model")
    return clip(f"{scenario or '-'} ({requested})" if requested else str(scenario or "-"))


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
    entry = printable_entry(entry)
    ts = _number(entry.get("ts"))
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts is not None else "?"
    parts = [when, route_label(entry), f"status {_int(entry.get('status'))}"]
    parts.append(f"{format_ms(_number(entry.get('latency_ms')))}")
    tokens = format_tokens(entry)
    if tokens != "-":
        parts.append(tokens)
    return ", ".join(parts)


def printable_entry(entry: Mapping[str, Any]) -> Entry:
    """`entry` with every string in it, keys too, made printable (control characters become visible escapes) and
    clipped as the service clips a log field now (an older log may hold a client's 20 MB model name)."""
    return {printable(clip(key)): _printable(value) for key, value in entry.items()}


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(clip(value, MAX_LOG_FIELD_CHARS))
    if isinstance(value, dict):
        return printable_entry(value)
    if isinstance(value, list):
        return [_printable(item) for item in value]
    return value


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _field_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
