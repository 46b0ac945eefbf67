"""Sums of the ledger per group: what `ccr usage` prints and `--json` writes.

A group's `cost_usd` is the sum of its rows' costs, or null when any row in it has no known price: a partial sum
would understate the spending without saying so. `unpriced_requests` says how many such rows there are (each has
had its hint). `baseline_cost_usd` is null the same way (`unbaselined_requests`: a request for a model that is not
a Claude model genai-prices knows, with no `Baseline` set), and `savings_usd` = baseline - cost is null when either
is. `errors` counts the requests answered 400 or more, except 499: the client left (Esc in Claude Code), which is no
failure of the router or the provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# --by -> the group's keys: (name in the output, SQL expression)
GROUPINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "scenario": (("scenario", "scenario"),),
    "provider": (("provider", "provider"),),
    "model": (("provider", "provider"), ("model", "model")),
    "session": (("session", "session_id"),),
    "project": (("project", "project"),),
    "day": (("day", "date(time, 'unixepoch', 'localtime')"),),
}

SUMS = (
    "COUNT(*), "
    "COALESCE(SUM(status >= 400 AND status != 499), 0), "
    "COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
    "COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), "
    "COALESCE(SUM(cost_usd), 0.0), COUNT(cost_usd), COALESCE(SUM(baseline_cost_usd), 0.0), COUNT(baseline_cost_usd)"
)
_DECIMALS = 8  # USD in JSON: below a millionth of a cent, without 0.30000000000000004


@dataclass(frozen=True, slots=True)
class UsageTotals:
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = 0.0
    baseline_cost_usd: float | None = 0.0
    unpriced_requests: int = 0
    unbaselined_requests: int = 0

    @property
    def savings_usd(self) -> float | None:
        if self.cost_usd is None or self.baseline_cost_usd is None:
            return None
        return self.baseline_cost_usd - self.cost_usd

    @classmethod
    def from_sums(cls, sums: Sequence[Any]) -> UsageTotals:
        """From the columns of SUMS, in order."""
        requests, errors, inputs, outputs, cache_read, cache_write, cost, priced, baseline, baselined = sums
        return cls(
            requests=requests,
            errors=errors,
            input_tokens=inputs,
            output_tokens=outputs,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            cost_usd=cost if priced == requests else None,
            baseline_cost_usd=baseline if baselined == requests else None,
            unpriced_requests=requests - priced,
            unbaselined_requests=requests - baselined,
        )

    @classmethod
    def combine(cls, parts: Iterable[UsageTotals]) -> UsageTotals:
        """The totals of several groups (read in one query, so they are one consistent snapshot)."""
        parts = list(parts)
        return cls(
            requests=sum(part.requests for part in parts),
            errors=sum(part.errors for part in parts),
            input_tokens=sum(part.input_tokens for part in parts),
            output_tokens=sum(part.output_tokens for part in parts),
            cache_read_tokens=sum(part.cache_read_tokens for part in parts),
            cache_write_tokens=sum(part.cache_write_tokens for part in parts),
            cost_usd=_sum_or_none(part.cost_usd for part in parts),
            baseline_cost_usd=_sum_or_none(part.baseline_cost_usd for part in parts),
            unpriced_requests=sum(part.unpriced_requests for part in parts),
            unbaselined_requests=sum(part.unbaselined_requests for part in parts),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cost_usd": _usd(self.cost_usd),
            "baseline_cost_usd": _usd(self.baseline_cost_usd),
            "savings_usd": _usd(self.savings_usd),
            "unpriced_requests": self.unpriced_requests,
            "unbaselined_requests": self.unbaselined_requests,
        }


@dataclass(frozen=True, slots=True)
class UsageGroup:
    keys: dict[str, str | None]  # e.g. {"provider": "deepseek", "model": "deepseek-chat"}
    totals: UsageTotals

    def as_dict(self) -> dict[str, Any]:
        return {**self.keys, **self.totals.as_dict()}


@dataclass(frozen=True, slots=True)
class UsageReport:
    since: float | None  # Unix time; None: since the first row
    by: str
    rows: tuple[UsageGroup, ...]
    total: UsageTotals

    def as_dict(self) -> dict[str, Any]:
        """`ccr usage --json`: {"since": ISO 8601 local time or null, "by": ..., "rows": [...], "total": {...}}."""
        since = datetime.fromtimestamp(self.since).astimezone().isoformat(timespec="seconds") if self.since else None
        return {
            "since": since,
            "by": self.by,
            "rows": [row.as_dict() for row in self.rows],
            "total": self.total.as_dict(),
        }


def grouped_query(by: str, since: float | None) -> tuple[str, tuple[Any, ...]]:
    """The SQL and parameters of the sums per group of `by`, since `since`."""
    if by not in GROUPINGS:
        raise ValueError(f"--by {by!r} is not a grouping; use one of {', '.join(GROUPINGS)}.")
    keys = GROUPINGS[by]
    selected = ", ".join(f"{expression} AS {name}" for name, expression in keys)
    names = ", ".join(name for name, _ in keys)
    where, parameters = since_clause(since)
    order = names if by == "day" else f"COUNT(*) DESC, {names}"
    return f"SELECT {selected}, {SUMS} FROM requests {where} GROUP BY {names} ORDER BY {order}", parameters


def since_clause(since: float | None) -> tuple[str, tuple[Any, ...]]:
    return ("WHERE time >= ?", (since,)) if since is not None else ("", ())


def groups_of(by: str, records: Sequence[Sequence[Any]]) -> tuple[UsageGroup, ...]:
    names = [name for name, _ in GROUPINGS[by]]
    return tuple(
        UsageGroup(dict(zip(names, record[: len(names)], strict=True)), UsageTotals.from_sums(record[len(names) :]))
        for record in records
    )


def _sum_or_none(values: Iterable[float | None]) -> float | None:
    total = 0.0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _usd(value: float | None) -> float | None:
    return None if value is None else round(value, _DECIMALS)
