"""JSON-lines logs in `$CCR_HOME/logs/ccr-router.log` (`paths.LOG_DIR` / `paths.LOG_FILE`): one line per request,
plus service events.

Rotated by size and bounded in count. Every line passes through the redactor, so a provider key or the
router's APIKEY cannot reach the file even when a body or an upstream error message happens to contain it. A field
longer than `untrusted.MAX_LOG_FIELD_CHARS` is clipped (a client's 20 MB model name made a 40 MB line), but for the
request bodies logged at debug level. At debug level the files hold whole conversations, so the folder is private
to its owner (0700) and the files too (0600), and files left wider by an older version are tightened at start.

Warnings and errors are also printed on stderr (`echo`): a terminal for `ccr start --foreground`, the file
`service-stderr.log` for a background service. At most `ECHO_MAX_BYTES` of them per process, since the log file has
them all anyway. They also go to each of `Logger.taps` (the dashboard's live log), as written: redacted and clipped.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import orjson

from ccrouter.files import open_private_append, private_directory, tighten
from ccrouter.paths import LOG_FILE
from ccrouter.providers.base import REDACTED
from ccrouter.untrusted import MAX_LOG_FIELD_CHARS, clip, printable_json

LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
ECHO_MAX_BYTES = 10 * 1024 * 1024  # printed on stderr per process; past it, warnings go to the log file only
_WHOLE_FIELDS = frozenset({"body"})  # a debug line's request body: its point is to be complete
_ENTRY_KEYS = ("ts", "level", "msg")  # what every line has besides its fields

# Hears every warn and error entry: (level, msg, fields as written). Called on the writing thread, which may be any.
LogTap = Callable[[str, str, dict[str, Any]], None]


# Query parameters whose values are credentials (`?key=`, `?access_token=`, `?sig=`...), by name.
_SECRET_PARAMETER = re.compile(r"key|token|secret|sig|pass|auth|cred", re.IGNORECASE)


def url_secrets(url: str | None) -> list[str]:
    """The credentials written into a URL: its userinfo (`user:password@`, and the password alone) and the values
    of query parameters named like credentials. Other parts are left alone: redacting `?api-version=1` would only
    blur the log."""
    if not url:
        return []
    parts = urlsplit(url)
    found = []
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and userinfo:
        found.append(userinfo)
        found += [unquote(piece) for piece in userinfo.split(":", 1)[1:]]
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if _SECRET_PARAMETER.search(name):
            found.append(value)
            found.append(quote(value, safe=""))
    return found


class Redactor:
    """Replaces known secret strings wherever they appear."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        # Longest first, so a secret that contains another is replaced whole. Very short values are skipped:
        # replacing "x" everywhere would destroy the log without protecting anything.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class Logger:
    def __init__(
        self,
        directory: Path | None,
        level: str = "info",
        redactor: Redactor | None = None,
        echo: IO[str] | None = None,
        max_bytes: int = MAX_BYTES,
        backups: int = BACKUPS,
        echo_max_bytes: int = ECHO_MAX_BYTES,
    ) -> None:
        """`directory` None disables the file (LOG: false); `echo` also prints warnings and errors there, up to
        `echo_max_bytes`."""
        self.threshold = LEVELS.get(level, 20)
        self.redact = redactor or Redactor(())
        self._echo = echo
        self._echo_max = self._echo_left = echo_max_bytes
        self._max_bytes = max_bytes
        self._backups = backups
        self._path: Path | None = None
        self._file: IO[bytes] | None = None
        self._size = 0
        self.taps: list[LogTap] = []  # the dashboard's live log; info and debug entries never reach them
        if directory is not None:
            private_directory(directory)
            self._path = directory / LOG_FILE
            for index in range(1, backups + 1):
                tighten(self._rotated(index))
            self._open()

    def enabled(self, level: str) -> bool:
        return LEVELS[level] >= self.threshold

    def debug(self, msg: str, **fields: Any) -> None:
        if self.threshold <= 10:
            self.write("debug", msg, fields)

    def info(self, msg: str, **fields: Any) -> None:
        if self.threshold <= 20:
            self.write("info", msg, fields)

    def warn(self, msg: str, **fields: Any) -> None:
        if self.threshold <= 30:
            self.write("warn", msg, fields)

    def error(self, msg: str, **fields: Any) -> None:
        self.write("error", msg, fields)

    def write(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        record = {"ts": round(time.time(), 3), "level": level, "msg": msg, **fields}
        line = self.redact(orjson.dumps(record, default=str).decode())
        if len(line) > MAX_LOG_FIELD_CHARS:  # it may hold a field to clip (a shorter line cannot)
            clipped = {key: value if key in _WHOLE_FIELDS else self._clipped(value) for key, value in record.items()}
            line = self.redact(orjson.dumps(clipped, default=str).decode())
        if (self._echo is not None or self.taps) and LEVELS[level] >= 30:
            if self._echo is not None:
                self._print(line)
            if self.taps:
                self._tell_taps(level, msg, line)
        if self._file is None:
            return
        data = line.encode() + b"\n"
        self._file.write(data)
        self._file.flush()
        self._size += len(data)
        if self._size >= self._max_bytes:
            self._rotate()

    def _tell_taps(self, level: str, msg: str, line: str) -> None:
        """Hand each tap the entry's fields as the line holds them (redacted, clipped). A tap that fails is its own
        problem: logging goes on."""
        entry = orjson.loads(line)
        said = str(entry.get("msg", msg))  # the message as written: redacted too
        fields = {key: value for key, value in entry.items() if key not in _ENTRY_KEYS}
        for tap in list(self.taps):
            try:
                tap(level, said, fields)
            except Exception:  # a broken tap must never break the log
                continue

    def _clipped(self, value: Any) -> Any:
        """`value` with every string in it redacted (before the cut, which could halve a secret), then clipped."""
        if isinstance(value, str):
            return clip(self.redact(value), MAX_LOG_FIELD_CHARS)
        if isinstance(value, dict):
            return {key: self._clipped(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._clipped(item) for item in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self._clipped(str(value))

    def _print(self, line: str) -> None:
        """Echo one line (inert on a terminal: JSON leaves the C1 controls raw), until `echo_max_bytes` are spent;
        then say once where the rest goes."""
        if self._echo is None or self._echo_left < 0:
            return
        self._echo_left -= len(line) + 1
        if self._echo_left < 0:
            where = f"only go to {self._path}" if self._path is not None else "are not kept (LOG is false)"
            line = (
                f"ccrouter: stopped printing warnings and errors here after {self._echo_max:,} bytes; the rest {where}."
            )
        print(printable_json(line), file=self._echo, flush=True)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> None:
        assert self._path is not None
        self._file = open_private_append(self._path)
        self._size = self._file.tell()

    def _rotated(self, index: int) -> Path:
        """The `index`-th older log file: `ccr-router.<index>.log`."""
        assert self._path is not None
        return self._path.with_name(f"{self._path.stem}.{index}.log")

    def _rotate(self) -> None:
        assert self._path is not None
        self.close()
        for index in range(self._backups - 1, 0, -1):
            older = self._rotated(index)
            if older.exists():
                older.replace(self._rotated(index + 1))
        self._path.replace(self._rotated(1))
        self._open()


def stderr_logger(level: str = "info") -> Logger:
    return Logger(None, level, echo=sys.stderr)
