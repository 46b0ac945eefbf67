"""`STATE_URL`: the Redis that several routers (instances, or WORKERS) share their live state through.

`"STATE_URL": "redis://host:6379/0"` (or `rediss://`, `unix://`) puts cool-downs and users' rate-limit counts in
Redis; without it each process keeps them in memory, as a single router always did. `STATE_PREFIX` (default
`ccr:`) starts every key, so several teams' routers can share one Redis without seeing each other's state.
`STATE_TIMEOUT_MS` (default 50) is how long a request may wait on Redis: past it, or while Redis is unreachable,
the process's own state serves and the request goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ccrouter.config.scalars import read_text, read_whole_number
from ccrouter.errors import ConfigError

SCHEMES = ("redis://", "rediss://", "unix://")
DEFAULT_PREFIX = "ccr:"
DEFAULT_TIMEOUT_MS = 50


@dataclass(frozen=True, slots=True)
class StateSettings:
    url: str  # may hold a password: never logged
    prefix: str = DEFAULT_PREFIX
    timeout_ms: int = DEFAULT_TIMEOUT_MS


def state_section(data: Mapping[str, Any]) -> StateSettings | None:
    """STATE_URL, STATE_PREFIX and STATE_TIMEOUT_MS; None without STATE_URL (in-process state)."""
    url = read_text(data, "STATE_URL")
    if url is None:
        return None
    if not url.lower().startswith(SCHEMES):
        raise ConfigError(
            "STATE_URL must be a Redis address: redis://host:6379/0, rediss://... (TLS) or unix:///path/redis.sock. "
            "Fix it, or remove STATE_URL to keep the state in each router's memory."
        )
    timeout_ms = read_whole_number(data, "STATE_TIMEOUT_MS", DEFAULT_TIMEOUT_MS, minimum=1, unit="milliseconds")
    return StateSettings(url, read_text(data, "STATE_PREFIX") or DEFAULT_PREFIX, timeout_ms)
