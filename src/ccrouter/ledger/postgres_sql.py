"""The PostgreSQL ledger's queries: the SQLite store's (`store.py`, `aggregate.py`), written so the same rows give
the same answers.

Where the two dialects differ, PostgreSQL is made to behave like SQLite:
- sums: SQLite adds booleans and keeps integer sums integer; here errors are a filtered count and sums are cast
  back to bigint (PostgreSQL's are numeric, which psycopg reads as Decimal);
- order: SQLite sorts text by its bytes with NULL first; here `COLLATE "C" NULLS FIRST`;
- case: SQLite's NOCASE and LIKE fold ASCII letters only; so does lower() under the "C" collation;
- local days: SQLite's `date(time, 'unixepoch', 'localtime')` uses this process's zone (`TZ`), which the server
  does not know. So the local midnights of the days the rows span are computed here, in the same C library
  (`local_day_starts`), sent as an array, and each row's day is its bucket (`width_bucket`) among them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from ccrouter.ledger import aggregate
from ccrouter.ledger.aggregate import GROUPINGS
from ccrouter.ledger.postgres_migrations import TABLE
from ccrouter.ledger.rows import COLUMNS
from ccrouter.ledger.store import SpendScope

# aggregate.SUMS, column for column.
SUMS = (
    "COUNT(*), "
    "COUNT(*) FILTER (WHERE status >= 400 AND status <> 499), "
    "COALESCE(SUM(input_tokens), 0)::bigint, COALESCE(SUM(output_tokens), 0)::bigint, "
    "COALESCE(SUM(cache_read_tokens), 0)::bigint, COALESCE(SUM(cache_write_tokens), 0)::bigint, "
    "COALESCE(SUM(cost_usd), 0.0::float8), COUNT(cost_usd), "
    "COALESCE(SUM(baseline_cost_usd), 0.0::float8), COUNT(baseline_cost_usd)"
)
COPY = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN"
SPAN = f"SELECT min(time), max(time) FROM {TABLE}"
DAY = "day"
# aggregate.SERIES_GROUPS that are not a plain column, in PostgreSQL's words.
SERIES_GROUPS = {"model": "CASE WHEN provider IS NULL THEN NULL ELSE provider || ',' || COALESCE(model, '') END"}
KNOWN_SAVINGS = "COALESCE(SUM(baseline_cost_usd - cost_usd), 0.0::float8)"  # aggregate._KNOWN_SAVINGS
_PARAMETER = "%s::text"


def since_clause(since: float | None, *more: tuple[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """`WHERE time >= since AND ...` (each of `more` a condition with its one parameter), or nothing."""
    conditions = [("time >= %s", since)] if since is not None else []
    conditions += more
    if not conditions:
        return "", ()
    return "WHERE " + " AND ".join(sql for sql, _ in conditions), tuple(value for _, value in conditions)


def totals_query(since: float | None, session_id: str | None) -> tuple[str, tuple[Any, ...]]:
    where, parameters = since_clause(since, *([("session_id = %s", session_id)] if session_id is not None else []))
    return f"SELECT {SUMS} FROM {TABLE} {where}", parameters


def grouped_query(by: str, since: float | None) -> tuple[str, tuple[Any, ...]]:
    """aggregate.grouped_query for every grouping but `day` (see `day_query`)."""
    keys = _columns_of(by)
    selected = ", ".join(f"{column} AS {name}" for name, column in keys)
    columns = ", ".join(column for _, column in keys)
    order = ", ".join(f'{column} COLLATE "C" NULLS FIRST' for _, column in keys)
    where, parameters = since_clause(since)
    sql = f"SELECT {selected}, {SUMS} FROM {TABLE} {where} GROUP BY {columns} ORDER BY COUNT(*) DESC, {order}"
    return sql, parameters


def day_query(since: float | None, starts: list[float]) -> tuple[str, tuple[Any, ...]]:
    """Sums per local day: the rows' bucket among `starts` (ascending local midnights), oldest first."""
    where, parameters = since_clause(since)
    bucket = "width_bucket(time, %s::float8[])"
    sql = f"SELECT {bucket} AS bucket, {SUMS} FROM {TABLE} {where} GROUP BY bucket ORDER BY bucket"
    return sql, (starts, *parameters)


def series_query(by: str, since: float, until: float, starts: list[float]) -> tuple[str, tuple[Any, ...]]:
    """aggregate.series_query: sums per (bucket, group) of the rows in [since, until], each row's bucket its place
    among `starts` (the buckets' beginnings, ascending: aggregate.bucket_starts), ordered as SQLite groups them."""
    group = _series_group(by)
    sql = (
        f"SELECT width_bucket(time, %s::float8[]) AS bucket, {group} AS grp, {SUMS}, {KNOWN_SAVINGS} FROM {TABLE} "
        f'WHERE time >= %s AND time <= %s GROUP BY bucket, grp ORDER BY bucket, ({group}) COLLATE "C" NULLS FIRST'
    )
    return sql, (starts, since, until)


def local_day_starts(first: float, last: float) -> tuple[list[str], list[float]]:
    """The local days from the one holding `first` to the one holding `last`: their names (YYYY-MM-DD, as SQLite's
    date() writes them) and the Unix times at which they begin (a midnight skipped by a clock change begins the day
    at the first moment that exists)."""
    day, end = _local_date(first), _local_date(last)
    names: list[str] = []
    starts: list[float] = []
    while day <= end:
        names.append(day.isoformat())
        starts.append(datetime(day.year, day.month, day.day).timestamp())
        day += timedelta(days=1)
    return names, starts


def spend_query(scope: SpendScope, since: float) -> tuple[str, tuple[Any, ...]]:
    """SqliteLedger.spend's query."""
    conditions = ["time >= %s"]
    parameters: list[Any] = [since]
    for column, value in (("provider", scope.provider), ("model", scope.model)):
        if value is not None:
            conditions.append(f"{_folded(column)} = {_folded(_PARAMETER)}")
            parameters.append(value)
    if scope.route is not None:
        subagents = f" OR {_folded('scenario')} LIKE 'subagent:%%'" if scope.route.casefold() == "subagent" else ""
        conditions.append(f"({_folded('scenario')} = {_folded(_PARAMETER)}{subagents})")
        parameters.append(scope.route)
    if scope.exclude is not None:
        provider, model = _folded("COALESCE(provider, '')"), _folded("COALESCE(model, '')")
        conditions.append(f"NOT ({provider} = {_folded(_PARAMETER)} AND {model} = {_folded(_PARAMETER)})")
        parameters.extend(scope.exclude)
    if scope.user is not None:
        conditions.append("user_name = %s")
        parameters.append(scope.user)
    sql = f"SELECT COALESCE(SUM(cost_usd), 0.0::float8) FROM {TABLE} WHERE {' AND '.join(conditions)}"
    return sql, tuple(parameters)


def _folded(expression: str) -> str:
    """`expression` with ASCII letters in lower case only, as SQLite's NOCASE compares."""
    return f'lower(({expression}) COLLATE "C")'


def _columns_of(by: str) -> tuple[tuple[str, str], ...]:
    if by not in GROUPINGS:
        raise ValueError(f"--by {by!r} is not a grouping; use one of {', '.join(GROUPINGS)}.")
    keys = GROUPINGS[by]
    if by == DAY or not all(column.isidentifier() for _, column in keys):
        raise ValueError(f"--by {by} is not a plain column: it needs its own PostgreSQL query.")
    return keys


def _series_group(by: str) -> str:
    if by in SERIES_GROUPS:
        return SERIES_GROUPS[by]
    if by in aggregate.SERIES_GROUPS and aggregate.SERIES_GROUPS[by].isidentifier():
        return aggregate.SERIES_GROUPS[by]
    raise ValueError(f"by {by!r} is not a series grouping; use one of {', '.join(aggregate.SERIES_GROUPS)}.")


def _local_date(moment: float) -> date:
    return datetime.fromtimestamp(moment).date()
