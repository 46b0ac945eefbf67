"""What happened to one request: its `RequestRecord`, the `Attempt`s in it, and the seam that hands it on.

Every request, whatever its outcome (success, upstream error, bad input, client gone), ends in exactly one record
handed to each `RecordSink`: the log line (`RequestLog`), the per-session state in `sessions.py`, the dashboard's
live feed. The usage ledger is handed the record itself (`accounting.py`): its writer thread makes the row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from ccrouter.config.model import Target
from ccrouter.gateway.logs import Logger
from ccrouter.ledger.rows import LedgerRow
from ccrouter.providers.base import Usage


@dataclass(slots=True)
class Attempt:
    """One try of one target (or its skipping, while it cools down)."""

    target: Target
    status: int  # HTTP status the provider answered, or ccrouter's 502/504 for connection failures; 0 if skipped
    error: str | None = None
    ms: float = 0.0

    @property
    def label(self) -> str:
        """The target as "provider,model"."""
        return self.target.label

    def outcome(self) -> str:
        if self.status == 0:
            return "cooling"
        return str(self.status)

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target.label, "status": self.status, "error": self.error, "ms": self.ms}


def attempts_header(attempts: list[Attempt]) -> str:
    """`x-ccr-attempts`: every target tried (or skipped) in order, with what it answered."""
    return ", ".join(f"{a.label}={a.outcome()}" for a in attempts)


@dataclass(slots=True)
class RequestRecord:
    """What happened to one request: emitted once, when it ends, whatever the outcome."""

    request_id: str
    started_at: float
    stream: bool = False
    session_id: str | None = None
    user: str | None = None  # who asked: a name of the config's Users, or "admin" (APIKEY); None without Users
    project: str | None = None  # Claude Code's working directory, when the ledger keeps rows
    requested_model: str | None = None
    scenario: str | None = None  # the route taken: a Scenario's name, or "subagent:<type>" for an agent type's route
    request_class: str | None = None  # Claude Code's: main, subagent, auxiliary, compaction
    pinned: bool = False  # the turn's earlier request chose the target (turn pinning)
    provider: str | None = None
    model: str | None = None
    status: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    estimated_input_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    stop_reason: str | None = None
    cost_usd: float | None = None  # what the tokens cost at the served target's price; None when it has none
    baseline_cost_usd: float | None = None  # the same tokens at the price of the Claude model asked for
    budget: str | None = None  # the budget that changed the route or refused the request
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)  # every target tried (or skipped), in order
    turn: str | None = field(default=None, repr=False)  # the turn key pinning uses (not logged)
    prices: str | None = field(default=None, repr=False)  # JSON: the prices of the two costs (the ledger's, not logged)

    def as_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _RECORD_FIELDS}
        data["attempts"] = [attempt.as_dict() for attempt in self.attempts]
        return data

    def ledger_row(self) -> LedgerRow:
        """The record as a ledger row (a `RowSource`: the writer's thread calls this once the request is settled; a
        record is not changed after that). Built positionally, in column order: see LedgerRow."""
        return tuple.__new__(  # the tuple itself: LedgerRow's generated __new__ costs twice as much
            LedgerRow,
            (
                self.started_at,
                self.request_id,
                self.status,
                self.session_id,
                self.project,
                self.scenario,
                self.provider,
                self.model,
                self.requested_model,
                orjson.dumps([attempt.as_dict() for attempt in self.attempts]).decode(),
                self.latency_ms,
                self.ttft_ms,
                self.input_tokens,
                self.output_tokens,
                self.cache_read_input_tokens,
                self.cache_creation_input_tokens,
                self.cost_usd,
                self.baseline_cost_usd,
                self.prices,
                self.user,
            ),
        )

    def take_usage(self, usage: Usage) -> None:
        self.input_tokens = usage.input_tokens
        self.output_tokens = usage.output_tokens
        self.cache_read_input_tokens = usage.cache_read_input_tokens
        self.cache_creation_input_tokens = usage.cache_creation_input_tokens

    def served_by(self, target: Target) -> None:
        self.provider, self.model = target.provider.name, target.model


_RECORD_FIELDS = tuple(f.name for f in fields(RequestRecord) if f.name not in ("turn", "prices"))

RecordSink = Callable[[RequestRecord], None]


class RequestLog:
    """The record sink that writes each request's log line: info, or warn / error for a 4xx / 5xx answer."""

    def __init__(self, log: Logger) -> None:
        self.log = log

    def __call__(self, record: RequestRecord) -> None:
        level = "info" if record.status < 400 else ("warn" if record.status < 500 else "error")
        if self.log.enabled(level):
            self.log.write(level, "request", record.as_dict())
