"""The read queries both ledgers share, each built once with the database's dialect as a parameter: the totals of
a period (or of one session) and a budget's spend. `SqliteLedger` builds them with `SQLITE`, `PostgresLedger` with
`POSTGRES`, so the two cannot drift apart: the same rows give the same answers.

Where the two databases differ, PostgreSQL is made to behave like SQLite (postgres_sql.py says more):
- sums: SQLite adds booleans and keeps integer sums integer; PostgreSQL counts the errors with a filter and casts
  its sums back to bigint (its own are numeric, which psycopg reads as Decimal);
- case: SQLite's NOCASE and LIKE fold ASCII letters only; so does lower() under PostgreSQL's "C" collation,
  whatever the database's locale;
- parameters: `?` for sqlite3, `%s` for psycopg (which takes a lone `%` as one, so patterns are parameters too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ccrouter.ledger.postgres_migrations import TABLE as POSTGRES_TABLE


@dataclass(frozen=True, slots=True)
class SpendScope:
    """The rows a budget counts: each field set narrows it (names compared without case, but `user` exactly);
    `route` "subagent" also covers "subagent:<type>"; rows served by `exclude` (provider, model), the budget's
    `then`, never count."""

    provider: str | None = None
    model: str | None = None
    route: str | None = None
    exclude: tuple[str, str] | None = None
    user: str | None = None  # a user's budget counts that user's rows only


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one database's SQL says differently in the shared queries. `same_text` and `like_text` take an
    expression (`{}`) and one parameter each, and compare ASCII letters without case, as SQLite's NOCASE does."""

    table: str  # the ledger's table
    parameter: str  # a query parameter's placeholder
    sums: str  # the columns UsageTotals.from_sums reads, in order
    zero_usd: str  # 0 USD, typed as SUM(cost_usd) is
    same_text: str  # `{}` equals the parameter
    like_text: str  # `{}` matches the parameter, a LIKE pattern


def _folded(expression: str) -> str:
    """`expression` with ASCII letters in lower case only, as SQLite's NOCASE compares."""
    return f'lower(({expression}) COLLATE "C")'


SQLITE = Dialect(
    table="requests",
    parameter="?",
    sums=(
        "COUNT(*), "
        "COALESCE(SUM(status >= 400 AND status != 499), 0), "
        "COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
        "COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), "
        "COALESCE(SUM(cost_usd), 0.0), COUNT(cost_usd), COALESCE(SUM(baseline_cost_usd), 0.0), COUNT(baseline_cost_usd)"
    ),
    zero_usd="0.0",
    same_text="{} = ? COLLATE NOCASE",
    like_text="{} LIKE ?",  # SQLite's LIKE ignores the case of ASCII letters
)
POSTGRES = Dialect(
    table=POSTGRES_TABLE,
    parameter="%s",
    sums=(  # SQLITE.sums, column for column
        "COUNT(*), "
        "COUNT(*) FILTER (WHERE status >= 400 AND status <> 499), "
        "COALESCE(SUM(input_tokens), 0)::bigint, COALESCE(SUM(output_tokens), 0)::bigint, "
        "COALESCE(SUM(cache_read_tokens), 0)::bigint, COALESCE(SUM(cache_write_tokens), 0)::bigint, "
        "COALESCE(SUM(cost_usd), 0.0::float8), COUNT(cost_usd), "
        "COALESCE(SUM(baseline_cost_usd), 0.0::float8), COUNT(baseline_cost_usd)"
    ),
    zero_usd="0.0::float8",
    same_text=f"{_folded('{}')} = {_folded('%s::text')}",
    like_text=f"{_folded('{}')} LIKE %s",
)
SUBAGENT_ROUTES = "subagent:%"  # what route "subagent" covers besides itself, as a LIKE pattern

Sql = tuple[str, tuple[Any, ...]]  # SQL and its parameters


def since_clause(dialect: Dialect, since: float | None, *equal: tuple[str, Any]) -> Sql:
    """`WHERE time >= since AND column = value ...` (each of `equal` a column and its value), or nothing."""
    conditions = [(f"time >= {dialect.parameter}", (since,))] if since is not None else []
    conditions += [(f"{column} = {dialect.parameter}", (value,)) for column, value in equal]
    return _where(conditions)


def totals_query(dialect: Dialect, since: float | None, session_id: str | None) -> Sql:
    """The sums (`dialect.sums`) of the rows since `since`, of one session when `session_id` is given."""
    where, parameters = since_clause(dialect, since, *([("session_id", session_id)] if session_id is not None else []))
    return f"SELECT {dialect.sums} FROM {dialect.table} {where}", parameters


def spend_query(dialect: Dialect, scope: SpendScope, since: float) -> Sql:
    """The USD spent in `scope` since `since`: one number, rows without a known price adding nothing."""
    where, parameters = _where([(f"time >= {dialect.parameter}", (since,)), *_scope_conditions(dialect, scope)])
    return f"SELECT COALESCE(SUM(cost_usd), {dialect.zero_usd}) FROM {dialect.table} {where}", parameters


def _scope_conditions(dialect: Dialect, scope: SpendScope) -> list[Sql]:
    """The conditions of each field `scope` sets (see SpendScope)."""
    conditions: list[Sql] = [
        (dialect.same_text.format(column), (value,))
        for column, value in (("provider", scope.provider), ("model", scope.model))
        if value is not None
    ]
    if scope.route is not None:
        conditions.append(_route_condition(dialect, scope.route))
    if scope.exclude is not None:
        provider, model = (dialect.same_text.format(f"COALESCE({column}, '')") for column in ("provider", "model"))
        conditions.append((f"NOT ({provider} AND {model})", scope.exclude))
    if scope.user is not None:
        conditions.append((f"user_name = {dialect.parameter}", (scope.user,)))
    return conditions


def _route_condition(dialect: Dialect, route: str) -> Sql:
    """The rows of `route` (without case); "subagent" also covers "subagent:<type>"."""
    same = dialect.same_text.format("scenario")
    if route.casefold() != "subagent":
        return f"({same})", (route,)
    return f"({same} OR {dialect.like_text.format('scenario')})", (route, SUBAGENT_ROUTES)


def _where(conditions: list[Sql]) -> Sql:
    if not conditions:
        return "", ()
    return "WHERE " + " AND ".join(sql for sql, _ in conditions), tuple(v for _, values in conditions for v in values)
