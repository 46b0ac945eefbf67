"""Per-session state, fed by the records of finished requests: each record sink is named for what it keeps.

`LastInputTokens` keeps the input size each session's provider last reported (routing keeps a long session on
the long-context route); `SessionActivity` keeps what served each session's latest request and its totals (for
`ccr statusline` and `ccr status`). Both are bounded to the most recent sessions.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from ccrouter.gateway.records import RequestRecord
from ccrouter.recent import Recent


class LastInputTokens:
    """The last input-token count (cache reads included) each session's provider reported for a served request."""

    def __init__(self, capacity: int = 4096) -> None:
        self._last: Recent[int] = Recent(capacity)

    def __call__(self, record: RequestRecord) -> None:
        if record.status < 400:  # served (a stream that failed midway still reports what it read)
            self.put(record.session_id, record.input_tokens + record.cache_read_input_tokens)

    def get(self, session_id: str | None) -> int:
        return (self._last.get(session_id) or 0) if session_id else 0

    def put(self, session_id: str | None, input_tokens: int) -> None:
        if session_id and input_tokens > 0:
            self._last.put(session_id, input_tokens)


@dataclass(slots=True)
class SessionStats:
    """One session: what served its latest request, and the totals of all of them."""

    session_id: str
    scenario: str | None = None
    pinned: bool = False  # the latest request followed its turn's pin
    provider: str | None = None
    model: str | None = None
    status: int = 0
    input_tokens: int = 0  # of the latest request, cache reads included
    output_tokens: int = 0
    requests: int = 0
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    # What the session's requests cost, and saved against the Claude model asked for; None once one of them had
    # no known price (a partial sum would look like the whole).
    total_cost_usd: float | None = 0.0
    total_savings_usd: float | None = 0.0
    updated_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SessionActivity:
    """What served each recent session's latest request, with its totals (`GET /api/sessions/{id}`)."""

    def __init__(self, capacity: int = 1024) -> None:
        self._sessions: Recent[SessionStats] = Recent(capacity)

    def __call__(self, record: RequestRecord) -> None:
        if not record.session_id or record.provider is None:
            return
        session_id = record.session_id
        stats = self._sessions.setdefault(session_id, lambda: SessionStats(session_id))
        input_tokens = record.input_tokens + record.cache_read_input_tokens + record.cache_creation_input_tokens
        stats.scenario, stats.provider, stats.model = record.scenario, record.provider, record.model
        stats.pinned = record.pinned
        stats.status = record.status
        stats.input_tokens, stats.output_tokens = input_tokens, record.output_tokens
        stats.requests += 1
        stats.total_input_tokens += input_tokens
        stats.total_output_tokens += record.output_tokens
        cost, baseline = record.cost_usd, record.baseline_cost_usd
        if stats.total_cost_usd is not None:
            stats.total_cost_usd = None if cost is None else round(stats.total_cost_usd + cost, 10)
        if stats.total_savings_usd is not None:
            saved = None if cost is None or baseline is None else baseline - cost
            stats.total_savings_usd = None if saved is None else round(stats.total_savings_usd + saved, 10)
        stats.updated_at = round(time.time(), 3)

    def get(self, session_id: str) -> SessionStats | None:
        return self._sessions.get(session_id)
