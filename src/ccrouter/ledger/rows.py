"""One ledger row per request: who asked, what served it, the tokens the provider reported and what they cost.

Prompts and replies are never stored: a row holds names, numbers and the attempts' outcomes only. The prices a row
was costed at travel with it (`prices`, JSON), so a later price change never rewrites history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol


@dataclass(frozen=True, slots=True)
class Tokens:
    """The tokens of one request as Anthropic counts them: `input` excludes those read from or written to the
    prompt cache."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @property
    def total_input(self) -> int:
        """Every input token, cached or not: what long-context price tiers are decided by."""
        return self.input + self.cache_read + self.cache_write

    @property
    def none(self) -> bool:
        return not (self.input or self.output or self.cache_read or self.cache_write)


class LedgerRow(NamedTuple):
    """A row is the tuple `INSERT ... VALUES` takes, fields in column order: built once on the request path
    (positionally there: a 20-keyword call cost three times as much) and handed to the database as it is."""

    time: float  # when the request arrived, in Unix seconds
    request_id: str
    status: int  # the HTTP status the client got (499: the client left before the end)
    session_id: str | None = None
    project: str | None = None  # Claude Code's working directory, when the request said it
    scenario: str | None = None  # the route taken (x-ccr-route)
    provider: str | None = None  # what served it (the last target tried); None when no target was reached
    model: str | None = None
    requested_model: str | None = None  # the request's `model`: what Claude Code asked for
    attempts: str = "[]"  # JSON: [{"target": "provider,model", "status": 200, "error": null, "ms": 812.5}, ...]
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None  # None: no price known for provider,model (never a silent 0)
    baseline_cost_usd: float | None = None  # the same tokens at the baseline's price; None when it has none
    prices: str | None = None  # JSON: the per-million prices of `cost_usd` and `baseline_cost_usd`
    # Who asked: a user of the config's `Users`, or "admin" (APIKEY); None without Users. Not `user`: a reserved
    # word in PostgreSQL, where `SELECT user` is the database role.
    user_name: str | None = None

    @property
    def tokens(self) -> Tokens:
        return Tokens(self.input_tokens, self.output_tokens, self.cache_read_tokens, self.cache_write_tokens)

    def ledger_row(self) -> LedgerRow:
        """A row is its own `RowSource`."""
        return self


class RowSource(Protocol):
    """What the writer queues: a row, or what it is made from (the gateway's request record), so that building it
    happens on the writer's thread, in a batch, rather than on the request path. It must not change once queued."""

    def ledger_row(self) -> LedgerRow: ...


COLUMNS: tuple[str, ...] = LedgerRow._fields


def values_of(row: LedgerRow) -> tuple[object, ...]:
    """`row` as the plain tuple `INSERT ... VALUES` takes, in COLUMNS order (sqlite3 binds a tuple subclass through
    its slow sequence path: 2 µs more a row)."""
    return tuple(row)
