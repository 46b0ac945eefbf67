"""Sums of the ledger per group: what `ccr usage` prints and `--json` writes.

A group's `cost_usd` is the sum of its rows' costs, or null when any row in it has no known price: a partial sum
would understate the spending without saying so. `unpriced_requests` says how many such rows there are (each has
had its hint). `baseline_cost_usd` is null the same way (`unbaselined_requests`: a request for a model that is not
a Claude model genai-prices knows, with no `Baseline` set), and `savings_usd` = baseline - cost is null when either
is. `errors` counts the requests answered 400 or more, except 499: the client left (Esc in Claude Code), which is no
failure of the router or the provider.

`UsageSeries` is the same sums per time bucket (a local hour, or a local day as `--by day` counts it) and group,
for the dashboard's charts: every bucket of the window present (zeros where nothing happened), at most
`MAX_SERIES_GROUPS` groups and the rest summed as `OTHER_GROUP`. A bucket's cost counts the priced rows only (an
unpriced row adds 0, as in a budget's spend) and its savings the rows with both prices; the totals keep the nulls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ccrouter.ledger.periods import next_period_start, period_start
from ccrouter.ledger.queries import SQLITE, since_clause

# --by -> the group's keys: (name in the output, SQL expression)
GROUPINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "scenario": (("scenario", "scenario"),),
    "provider": (("provider", "provider"),),
    "model": (("provider", "provider"), ("model", "model")),
    "session": (("session", "session_id"),),
    "project": (("project", "project"),),
    "user": (("user", "user_name"),),
    "day": (("day", "date(time, 'unixepoch', 'localtime')"),),
}

SUMS = SQLITE.sums  # each row's sums: UsageTotals.from_sums' columns
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
    where, parameters = since_clause(SQLITE, since)
    order = names if by == "day" else f"COUNT(*) DESC, {names}"
    return f"SELECT {selected}, {SUMS} FROM {SQLITE.table} {where} GROUP BY {names} ORDER BY {order}", parameters


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


# ---------------------------------------------------------------------------------------------------------------
# Sums per time bucket and group: the dashboard's charts

# bucket -> the SQL of a row's bucket key, in local time (SQLite's 'localtime' is the C library's, as Python's)
SERIES_BUCKETS = {
    "hour": "strftime('%Y-%m-%d %H', time, 'unixepoch', 'localtime')",
    "day": "date(time, 'unixepoch', 'localtime')",
}
# by -> the SQL of a row's group name
SERIES_GROUPS = {
    "scenario": "scenario",
    "provider": "provider",
    "user": "user_name",  # a name of Users, or "admin"; NULL (NO_GROUP) for rows written without Users
    "model": "CASE WHEN provider IS NULL THEN NULL ELSE provider || ',' || IFNULL(model, '') END",
}
SERIES_METRICS = ("requests", "errors", "input_tokens", "output_tokens", "cost_usd", "savings_usd")
MAX_SERIES_GROUPS = 8  # more lines than a chart's legend can tell apart
OTHER_GROUP = "other"
NO_GROUP = "(none)"  # rows without the grouping's value: requests refused before any route or provider
_KNOWN_SAVINGS = "COALESCE(SUM(baseline_cost_usd - cost_usd), 0.0)"  # rows with both prices only


@dataclass(frozen=True, slots=True)
class UsageSeries:
    since: float  # Unix time: the window is [since, until]
    until: float
    bucket: str
    by: str
    times: tuple[int, ...]  # each bucket's start (Unix time), ascending
    groups: tuple[str, ...]  # the busiest first, then OTHER_GROUP when some were folded into it
    values: Mapping[str, Mapping[str, list[float]]]  # metric -> group -> one value per bucket
    total: UsageTotals

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "bucket": self.bucket,
            "by": self.by,
            "times": list(self.times),
            "groups": list(self.groups),
            "series": {metric: {g: list(v) for g, v in per.items()} for metric, per in self.values.items()},
            "totals": self.total.as_dict(),
        }


def series_query(bucket: str, by: str, since: float, until: float) -> tuple[str, tuple[Any, ...]]:
    """The SQL and parameters of the sums per (bucket key, group) of the rows in [since, until]."""
    if bucket not in SERIES_BUCKETS:
        raise ValueError(f"bucket {bucket!r} is not a bucket; use one of {', '.join(SERIES_BUCKETS)}.")
    if by not in SERIES_GROUPS:
        raise ValueError(f"by {by!r} is not a series grouping; use one of {', '.join(SERIES_GROUPS)}.")
    return (
        f"SELECT {SERIES_BUCKETS[bucket]} AS bucket, {SERIES_GROUPS[by]} AS grp, {SUMS}, {_KNOWN_SAVINGS} "
        f"FROM {SQLITE.table} WHERE time >= ? AND time <= ? GROUP BY bucket, grp",
        (since, until),
    )


def bucket_starts(bucket: str, since: float, until: float) -> list[tuple[str, int]]:
    """(key, start) of every local hour or day that holds a moment of [since, until], in order. The key is what
    SERIES_BUCKETS makes of a row's time. The hour repeated when clocks go back is one bucket, as SQLite keys it."""
    starts: list[tuple[str, int]] = []
    seen: set[str] = set()
    moment = _bucket_start(bucket, since)
    while moment <= until:
        key = _bucket_key(bucket, moment)
        if key not in seen:
            seen.add(key)
            starts.append((key, round(moment)))
        moment = _next_bucket(bucket, moment)
    return starts


def usage_series(
    bucket: str,
    by: str,
    since: float,
    until: float,
    records: Sequence[Sequence[Any]],
    max_groups: int = MAX_SERIES_GROUPS,
) -> UsageSeries:
    """The series from the rows of `series_query`: zero-filled buckets, the busiest groups, the rest folded."""
    starts = bucket_starts(bucket, since, until)
    index = {key: position for position, (key, _) in enumerate(starts)}
    cells = [(record[0], record[1] if record[1] is not None else NO_GROUP, record[2:]) for record in records]
    kept = _busiest_groups(cells, max_groups)
    groups = [*kept, OTHER_GROUP] if len({group for _, group, _ in cells}) > len(kept) else kept
    values = {metric: {group: [0.0] * len(starts) for group in groups} for metric in SERIES_METRICS}
    for key, group, sums in cells:
        position = index.get(key)
        if position is not None:  # a row dated past `until` (a clock set back) counts in the totals only
            _add_cell(values, group if group in kept else OTHER_GROUP, position, sums)
    for per_group in values.values():
        for numbers in per_group.values():
            numbers[:] = [_number(value) for value in numbers]
    total = UsageTotals.combine(UsageTotals.from_sums(sums[:-1]) for _, _, sums in cells)
    return UsageSeries(since, until, bucket, by, tuple(start for _, start in starts), tuple(groups), values, total)


def _busiest_groups(cells: Sequence[tuple[str, str, Sequence[Any]]], limit: int) -> list[str]:
    """The `limit` groups with the most requests (ties by name); all of them when they are no more."""
    requests: dict[str, int] = {}
    for _, group, sums in cells:
        requests[group] = requests.get(group, 0) + sums[0]
    ranked = sorted(requests, key=lambda group: (-requests[group], group))
    return ranked if len(ranked) <= limit else ranked[:limit]


def _add_cell(values: dict[str, dict[str, list[float]]], group: str, position: int, sums: Sequence[Any]) -> None:
    """Add one (bucket, group) row of the query (SUMS columns, then the known savings) at `position`."""
    requests, errors, inputs, outputs, _, _, cost, _, _, _, savings = sums
    for metric, amount in zip(SERIES_METRICS, (requests, errors, inputs, outputs, cost, savings), strict=True):
        values[metric][group][position] += amount


def _number(value: float) -> float:
    """Counts as whole numbers, USD rounded like the totals."""
    return int(value) if float(value).is_integer() else round(value, _DECIMALS)


def _bucket_start(bucket: str, moment: float) -> float:
    if bucket == "day":
        return period_start("day", moment)
    return datetime.fromtimestamp(moment).replace(minute=0, second=0, microsecond=0).timestamp()


def _next_bucket(bucket: str, start: float) -> float:
    if bucket == "day":
        return next_period_start("day", start)
    step = 3600.0
    while True:  # where clocks go back half an hour (Lord Howe), an hour later floors back to `start`: step on
        following = _bucket_start("hour", start + step)
        if following > start:
            return following
        step += 1800


def _bucket_key(bucket: str, moment: float) -> str:
    return datetime.fromtimestamp(moment).strftime("%Y-%m-%d" if bucket == "day" else "%Y-%m-%d %H")
