"""JSON-lines logs in `$CCR_HOME/logs/ccr-router.log` (`paths.LOG_DIR` / `paths.LOG_FILE`): one line per request,
plus service events.

Rotated by size and bounded in count. Every line passes through the redactor, so a provider key or the
router's APIKEY cannot reach the file even when a body or an upstream error message happens to contain it.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import orjson

from ccrouter.paths import LOG_FILE
from ccrouter.providers.base import REDACTED

LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5


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
    ) -> None:
        """`directory` None disables the file (LOG: false); `echo` also prints warnings and errors there."""
        self.threshold = LEVELS.get(level, 20)
        self.redact = redactor or Redactor(())
        self._echo = echo
        self._max_bytes = max_bytes
        self._backups = backups
        self._path: Path | None = None
        self._file: IO[bytes] | None = None
        self._size = 0
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._path = directory / LOG_FILE
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
        if self._echo is not None and LEVELS[level] >= 30:
            print(line, file=self._echo, flush=True)
        if self._file is None:
            return
        data = line.encode() + b"\n"
        self._file.write(data)
        self._file.flush()
        self._size += len(data)
        if self._size >= self._max_bytes:
            self._rotate()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> None:
        assert self._path is not None
        self._file = self._path.open("ab")
        self._size = self._file.tell()

    def _rotate(self) -> None:
        assert self._path is not None
        self.close()
        stem = self._path.with_suffix("")
        for index in range(self._backups - 1, 0, -1):
            older = Path(f"{stem}.{index}.log")
            if older.exists():
                older.replace(f"{stem}.{index + 1}.log")
        self._path.replace(f"{stem}.1.log")
        self._open()


def stderr_logger(level: str = "info") -> Logger:
    return Logger(None, level, echo=sys.stderr)
