"""`GET /api/ui/overview`: usage over time from the ledger, the budgets, and each provider's health right now.

It runs in a worker thread (`asyncio.to_thread`), so a large ledger never holds up the event loop. The series and
totals come from the ledger (`LedgerStore.series`): `SqliteLedger` gives each thread its own connection to a file in
WAL mode, so the read neither waits for the writer thread nor holds it up. Provider health comes from a snapshot of
the live feed's records of the last 15 minutes (counted per attempt, so a provider that failed before a fallback
served counts its failure) and the gateway's cool-downs (the caller takes those on the event loop).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ccrouter.dashboard.live import CLIENT_CLOSED, LiveFeed, Redact, provider_text
from ccrouter.errors import GatewayError
from ccrouter.gateway.cooldowns import Cooling
from ccrouter.gateway.records import Attempt, RequestRecord
from ccrouter.ledger.aggregate import SERIES_BUCKETS, SERIES_GROUPS
from ccrouter.ledger.budgets import BudgetStatus
from ccrouter.ledger.faults import LedgerError
from ccrouter.ledger.store import LedgerStore
from ccrouter.untrusted import clip

SPANS = {"24h": 24 * 3600, "7d": 7 * 86400, "30d": 30 * 86400}
HEALTH_WINDOW_S = 15 * 60
LEDGER_OFF = (
    'The ledger is off ("LEDGER": false in the config), or it could not be opened (the service log says why), so '
    'there is no usage history to chart. Remove "LEDGER": false (or fix the file) and restart the service '
    "(ccr restart); budgets and provider health below still work."
)


def overview(
    store: LedgerStore | None,
    since: str,
    bucket: str,
    by: str,
    *,
    feed: LiveFeed,
    cooling: Sequence[Cooling],
    budgets: Sequence[BudgetStatus],
    now: float | None = None,
) -> dict[str, Any]:
    """The overview of the last `since` (24h, 7d, 30d) per `bucket` (hour, day) and group of `by` (scenario,
    provider, model, user), at Unix time `now`. It blocks on the ledger: call it in a worker thread. `cooling` is
    `gateway.cooldowns.all_cooling(time.monotonic())`, taken on the event loop (reasons are redacted here).
    Raises GatewayError: 400 for a bad choice, 500 when the ledger cannot be read."""
    span = _choice("since", since, tuple(SPANS))
    _choice("bucket", bucket, tuple(SERIES_BUCKETS))
    _choice("by", by, tuple(SERIES_GROUPS))
    now = time.time() if now is None else now
    live = {
        "budgets": [budget.as_dict() for budget in budgets],
        "providers": provider_health(feed.recent(HEALTH_WINDOW_S, now), cooling, feed.redact, now),
    }
    if store is None:
        return {"ledger": False, "message": LEDGER_OFF, **live}
    try:
        series = store.series(now - SPANS[span], now, bucket, by)
    except LedgerError as exc:
        raise GatewayError(500, f"The usage ledger could not be read: {exc}", "api_error") from None
    return {"ledger": True, **series.as_dict(), **live}


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise GatewayError(400, f"{name}={clip(value)!r} is not one of {', '.join(choices)}: use one of those.")
    return value


# ---------------------------------------------------------------------------------------------------------------
# Provider health


@dataclass(slots=True)
class _Health:
    provider: str
    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)  # of the requests it served whole
    last_error: str | None = None
    last_error_at: float | None = None
    cooling: list[dict[str, Any]] = field(default_factory=list)

    def failed(self, error: str | None, at: float) -> None:
        self.errors += 1
        if self.last_error_at is None or at >= self.last_error_at:
            self.last_error, self.last_error_at = error, at

    def as_dict(self, redact: Redact) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.errors / self.requests, 3) if self.requests else None,
            "p50_ms": _percentile(self.latencies, 0.50),
            "p95_ms": _percentile(self.latencies, 0.95),
            "last_error": provider_text(self.last_error, redact),
            "last_error_at": None if self.last_error_at is None else round(self.last_error_at, 3),
            "cooling": self.cooling,
        }


def provider_health(
    records: Sequence[RequestRecord], cooling: Sequence[Cooling], redact: Redact, now: float
) -> list[dict[str, Any]]:
    """Per provider, the busiest first: the attempts sent to it in `records` and how many failed (a served stream
    that broke midway too), the latency of the requests it served, its latest error, and its targets that rest."""
    health: dict[str, _Health] = {}

    def of(provider: str) -> _Health:
        return health.setdefault(provider, _Health(provider))

    for record in records:
        for attempt in record.attempts:
            if attempt.status:  # 0: skipped while it cooled down, never sent
                _note_attempt(of(attempt.target.provider.name), attempt, record)
    for rest in cooling:
        provider, _, _ = rest.target.partition(",")
        until = round(now + rest.seconds_left, 3)
        of(provider).cooling.append({"target": rest.target, "until": until, "reason": redact(rest.reason)})
    ranked = sorted(health.values(), key=lambda h: (-h.requests, h.provider))
    return [entry.as_dict(redact) for entry in ranked]


def _note_attempt(health: _Health, attempt: Attempt, record: RequestRecord) -> None:
    """One attempt: a failure it answered; or the request it served, whole or broken midway."""
    health.requests += 1
    ended_at = record.started_at + record.latency_ms / 1000
    if attempt.status >= 400:
        health.failed(attempt.error or f"HTTP {attempt.status}", ended_at)
    elif record.error is not None and record.status != CLIENT_CLOSED:
        health.failed(record.error, ended_at)
    elif record.status < 400:
        health.latencies.append(record.latency_ms)


def _percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (a value that occurred), None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 1)
