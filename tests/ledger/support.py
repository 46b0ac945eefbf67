"""What the ledger's tests share: a config's providers, rows, local time pinned to a zone, and a report collector."""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import datetime
from typing import Any

from ccrouter.config.ledger_section import LedgerSettings, ledger_section
from ccrouter.config.loading import parse_config
from ccrouter.config.model import Config
from ccrouter.ledger.rows import LedgerRow

# UTC+10 without daylight saving: a local day is not a UTC day, so mixing the two shows.
LOCAL_TZ = "TST-10"

PROVIDERS: list[dict[str, Any]] = [
    {
        "name": "deepseek",
        "api_base_url": "https://api.deepseek.com/chat/completions",
        "api_key": "sk-test",
        "models": ["deepseek-chat", "deepseek-reasoner"],
    },
    {"name": "ollama", "api_base_url": "http://localhost:11434/v1/chat/completions", "models": ["qwen3"]},
    {"name": "loop6", "api_base_url": "http://[::1]:8080/v1/chat/completions", "models": ["llama"]},
    {
        "name": "keyed-local",
        "api_base_url": "http://127.0.0.1:4000/v1/chat/completions",
        "api_key": "sk-local",
        "models": ["proxy-model"],
    },
    {
        "name": "mystery",
        "api_base_url": "https://llm.example.com/v1/chat/completions",
        "api_key": "sk-m",
        "models": ["foo-1"],
    },
    {
        "name": "openrouter",
        "api_base_url": "https://openrouter.ai/api/v1/chat/completions",
        "api_key": "sk-or",
        "models": ["anthropic/claude-sonnet-4"],
    },
    {
        "name": "anthropic",
        "api_base_url": "https://api.anthropic.com/v1/messages",
        "api_key": "sk-ant",
        "models": ["claude-sonnet-4-5-20250929"],
        "transformer": {"use": ["anthropic"]},
    },
]


def config_with(**keys: Any) -> Config:
    data: dict[str, Any] = {"Providers": PROVIDERS, "Router": {"default": "deepseek,deepseek-chat"}, **keys}
    return parse_config(json.dumps(data), {})


def settings_with(**keys: Any) -> LedgerSettings:
    config = config_with(**keys)
    return ledger_section(config.raw, config.providers.values())


_ids = itertools.count(1)


def row(**fields: Any) -> LedgerRow:
    values: dict[str, Any] = {"time": local(2025, 3, 10, 12), "request_id": f"req-{next(_ids)}", "status": 200}
    values.update(fields)
    return LedgerRow(**values)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    """Unix time of a local wall-clock moment (in whatever zone TZ says now)."""
    return datetime(year, month, day, hour, minute, second).timestamp()


def set_zone(zone: str | None) -> None:
    import os

    if zone is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = zone
    time.tzset()


class Reports:
    """Collects a writer's or budget book's (level, message) reports; tests wait on them by condition."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, level: str, message: str) -> None:
        with self._cond:
            self.items.append((level, message))
            self._cond.notify_all()

    def of(self, level: str) -> list[str]:
        with self._cond:
            return [message for lvl, message in self.items if lvl == level]

    def wait_for(self, level: str, count: int = 1, timeout: float = 20.0) -> list[str]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.of(level)) >= count, timeout):
                raise AssertionError(f"no {level} report within {timeout} s; got {self.items}")
            return self.of(level)
