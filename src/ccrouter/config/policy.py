"""How hard ccrouter tries before it gives up: retries, back-off, cool-downs and the request size limit.

These are ccrouter's own config keys (CCR has none of them); every one is optional and has a default that suits
Claude Code:

    "RETRY":    {"max_retries": 2, "initial_backoff_ms": 1000, "max_backoff_ms": 30000, "max_retry_after_ms": 30000,
                 "attempt_timeout_ms": 0}
    "COOLDOWN": {"failures": 3, "window_ms": 60000, "duration_ms": 60000, "max_duration_ms": 300000}
    "MAX_REQUEST_BODY_MB": 64
    "LIMITS":   {"max_header_bytes": 65536, "header_timeout_ms": 10000, "body_timeout_ms": 60000,
                 "idle_timeout_ms": 75000, "max_connections": 0}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ccrouter.config.scalars import read_positive_number, read_typed, read_whole_number
from ccrouter.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """After every target of a route failed with a retryable error, go round again this many times."""

    max_retries: int = 2
    initial_backoff_ms: int = 1000  # doubled each round, with +-25 % jitter
    max_backoff_ms: int = 30_000
    max_retry_after_ms: int = 30_000  # a provider's Retry-After is honoured up to this
    attempt_timeout_ms: int = 0  # one target's time to answer (0: the rest of API_TIMEOUT_MS); lower it to fall
    # back from a provider that hangs, above the longest a non-streaming reply takes


@dataclass(frozen=True, slots=True)
class CooldownPolicy:
    """A target that failed `failures` times within `window_ms`, at least as often as it succeeded (or that sent a
    429 with Retry-After), is skipped for `duration_ms` (or the Retry-After, up to `max_duration_ms`) by every
    route."""

    failures: int = 3
    window_ms: int = 60_000
    duration_ms: int = 60_000
    max_duration_ms: int = 300_000


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one client connection may take before the router closes it: header bytes (431), time to send the
    headers and the body (408), time with no request at all, and how many connections are held at once (0: as
    many as the file-descriptor limit allows, two descriptors each; past that the longest-idle one is closed,
    or a 503 when none is idle)."""

    max_header_bytes: int = 65_536  # Claude Code sends about 1.5 KB
    header_timeout_ms: int = 10_000  # from a request's first byte to the end of its headers
    body_timeout_ms: int = 60_000  # from the end of the headers to the end of the body
    idle_timeout_ms: int = 75_000  # a connection with no request in progress
    max_connections: int = 0


DEFAULT_MAX_BODY_MB = 64


def retry_policy(data: Mapping[str, Any]) -> RetryPolicy:
    return RetryPolicy(**_fields(data, "RETRY", RetryPolicy()))


def cooldown_policy(data: Mapping[str, Any]) -> CooldownPolicy:
    policy = CooldownPolicy(**_fields(data, "COOLDOWN", CooldownPolicy()))
    if policy.failures < 1:
        raise ConfigError("COOLDOWN.failures must be 1 or more (it counts failures before a cool-down).")
    return policy


def connection_limits(data: Mapping[str, Any]) -> ConnectionLimits:
    limits = ConnectionLimits(**_fields(data, "LIMITS", ConnectionLimits()))
    for name in ("max_header_bytes", "header_timeout_ms", "body_timeout_ms", "idle_timeout_ms"):
        if getattr(limits, name) < 1:
            raise ConfigError(f"LIMITS.{name} must be 1 or more (0 would refuse every request).")
    return limits


def max_body_bytes(data: Mapping[str, Any]) -> int:
    megabytes = read_positive_number(data, "MAX_REQUEST_BODY_MB", DEFAULT_MAX_BODY_MB, unit="megabytes")
    return int(megabytes * 1024 * 1024)


def _fields(
    data: Mapping[str, Any], key: str, defaults: RetryPolicy | CooldownPolicy | ConnectionLimits
) -> dict[str, int]:
    known = defaults.__slots__
    example = "{" + ", ".join(f'"{name}": {getattr(defaults, name)}' for name in known) + "}"
    block: dict[str, Any] = read_typed(data, key, dict, {}, like=example)
    for name in block:
        if name not in known:
            raise ConfigError(f"{key}.{name} is not a setting; use {', '.join(known)}.")
    return {name: read_whole_number(block, name, getattr(defaults, name), prefix=f"{key}.") for name in block}
