"""What each recent Claude Code session's latest request was served by, for `ccr statusline` and `ccr status`.

A record sink: the gateway hands it every finished request. Bounded to the most recent sessions.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ccrouter.recent import Recent


class FinishedRequest(Protocol):
    session_id: str | None
    scenario: str | None
    provider: str | None
    model: str | None
    status: int
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


@dataclass(slots=True)
class SessionActivity:
    session_id: str
    scenario: str | None = None
    provider: str | None = None
    model: str | None = None
    status: int = 0
    input_tokens: int = 0  # of the latest request, cache reads included
    output_tokens: int = 0
    requests: int = 0
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    updated_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SessionActivityLog:
    def __init__(self, capacity: int = 1024) -> None:
        self._sessions: Recent[SessionActivity] = Recent(capacity)

    def __call__(self, record: FinishedRequest) -> None:
        if not record.session_id or record.provider is None:
            return
        session_id = record.session_id
        activity = self._sessions.setdefault(session_id, lambda: SessionActivity(session_id))
        input_tokens = record.input_tokens + record.cache_read_input_tokens + record.cache_creation_input_tokens
        activity.scenario, activity.provider, activity.model = record.scenario, record.provider, record.model
        activity.status = record.status
        activity.input_tokens, activity.output_tokens = input_tokens, record.output_tokens
        activity.requests += 1
        activity.total_input_tokens += input_tokens
        activity.total_output_tokens += record.output_tokens
        activity.updated_at = round(time.time(), 3)

    def get(self, session_id: str) -> SessionActivity | None:
        return self._sessions.get(session_id)
