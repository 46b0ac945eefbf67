"""The PostgreSQL ledger's own queries: the SQLite store's groupings and series (`aggregate.py`), written so the
same rows give the same answers. (Totals and spend are built once for both databases: `queries.py`.)

Where the two dialects differ, PostgreSQL is made to behave like SQLite:
- sums: SQLite adds booleans and keeps integer sums integer; here errors are a filtered count and sums are cast
  back to bigint (PostgreSQL's are numeric, which psycopg reads as Decimal): `queries.POSTGRES.sums`;
- order: SQLite sorts text by its bytes with NULL first; here `COLLATE "C" NULLS FIRST`;
- case: SQLite's NOCASE and LIKE fold ASCII letters only; so does lower() under the "C" collation (a budget's
  spend: `queries.POSTGRES.same_text`);
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
from ccrouter.ledger.queries import POSTGRES, since_clause
from ccrouter.ledger.rows import COLUMNS

SUMS = POSTGRES.sums  # aggregate.SUMS, column for column
COPY = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN"
SPAN = f"SELECT min(time), max(time) FROM {TABLE}"
DAY = "day"
# aggregate.SERIES_GROUPS that are not a plain column, in PostgreSQL's words.
SERIES_GROUPS = {"model": "CASE WHEN provider IS NULL THEN NULL ELSE provider || ',' || COALESCE(model, '') END"}
KNOWN_SAVINGS = "COALESCE(SUM(baseline_cost_usd - cost_usd), 0.0::float8)"  # aggregate._KNOWN_SAVINGS


def grouped_query(by: str, since: float | None) -> tuple[str, tuple[Any, ...]]:
    """aggregate.grouped_query for every grouping but `day` (see `day_query`)."""
    keys = _columns_of(by)
    selected = ", ".join(f"{column} AS {name}" for name, column in keys)
    columns = ", ".join(column for _, column in keys)
    order = ", ".join(f'{column} COLLATE "C" NULLS FIRST' for _, column in keys)
    where, parameters = since_clause(POSTGRES, since)
    sql = f"SELECT {selected}, {SUMS} FROM {TABLE} {where} GROUP BY {columns} ORDER BY COUNT(*) DESC, {order}"
    return sql, parameters


def day_query(since: float | None, starts: list[float]) -> tuple[str, tuple[Any, ...]]:
    """Sums per local day: the rows' bucket among `starts` (ascending local midnights), oldest first."""
    where, parameters = since_clause(POSTGRES, since)
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
