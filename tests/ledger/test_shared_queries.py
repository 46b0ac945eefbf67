"""The totals and spend queries both ledgers build from one builder (ccrouter/ledger/queries.py), each in its own
database's words: on the same rows, every scope (each field alone and all of them together) and every session give
what the rows say, worked out here in Python, in SQLite and in PostgreSQL alike. Comparing the two databases is no
longer enough now that one builder writes both queries: a mistake in it would be the same mistake in both."""

from __future__ import annotations

import itertools
import string

import pytest

from ccrouter.ledger.aggregate import UsageTotals
from ccrouter.ledger.queries import POSTGRES, SQLITE, SpendScope, spend_query, totals_query
from ccrouter.ledger.rows import LedgerRow
from tests.ledger.both_stores import Stored, stored_fixture  # noqa: F401 (fixtures)
from tests.ledger.support import local
from tests.ledger.test_postgres_store import varied_rows
from tests.support.postgres_server import open_ledger_fixture, postgres_server_fixture, postgres_url_fixture  # noqa: F401

ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def folded(text: str | None) -> str | None:
    """ASCII letters in lower case, others as they are: how SQLite's NOCASE (and so both ledgers) compare names."""
    return None if text is None else text.translate(ASCII_LOWER)


def in_scope(row: LedgerRow, scope: SpendScope) -> bool:
    """SpendScope's rule, written out: a set field narrows the rows; `exclude` takes the budget's `then` away."""
    if scope.provider is not None and folded(row.provider) != folded(scope.provider):
        return False
    if scope.model is not None and folded(row.model) != folded(scope.model):
        return False
    if scope.route is not None and not routed(row.scenario, scope.route):
        return False
    if scope.exclude is not None and (folded(row.provider or ""), folded(row.model or "")) == tuple(
        map(folded, scope.exclude)
    ):
        return False
    return scope.user is None or row.user_name == scope.user


def routed(scenario: str | None, route: str) -> bool:
    if scenario is None:
        return False
    subagents = route.casefold() == "subagent" and (folded(scenario) or "").startswith("subagent:")
    return folded(scenario) == folded(route) or subagents


def totals_by_hand(rows: list[LedgerRow]) -> UsageTotals:
    priced = [row.cost_usd for row in rows if row.cost_usd is not None]
    baselined = [row.baseline_cost_usd for row in rows if row.baseline_cost_usd is not None]
    return UsageTotals(
        requests=len(rows),
        errors=sum(row.status >= 400 and row.status != 499 for row in rows),
        input_tokens=sum(row.input_tokens for row in rows),
        output_tokens=sum(row.output_tokens for row in rows),
        cache_read_tokens=sum(row.cache_read_tokens for row in rows),
        cache_write_tokens=sum(row.cache_write_tokens for row in rows),
        cost_usd=sum(priced) if len(priced) == len(rows) else None,
        baseline_cost_usd=sum(baselined) if len(baselined) == len(rows) else None,
        unpriced_requests=len(rows) - len(priced),
        unbaselined_requests=len(rows) - len(baselined),
    )


SCOPES = [
    SpendScope(provider, model, route, exclude, user)
    for provider, model, route, exclude, user in itertools.product(
        [None, "DEEPSEEK", "mystère", "MYSTÈRE"],
        [None, "chat"],
        [None, "subagent", "SubAgent", "subagent:explore", "SUBAGENT:PLAN", "default"],
        [None, ("deepseek", "CHAT"), ("", "")],
        [None, "ana"],
    )
]


def test_spend_in_every_scope_and_every_combination_is_what_the_rows_say(stored: Stored) -> None:
    rows = varied_rows(300, local(2025, 3, 1), 10 * 86400)
    since = local(2025, 3, 4)
    store = stored(rows)
    recent = [row for row in rows if row.time >= since]
    expected = {scope: sum(row.cost_usd or 0.0 for row in recent if in_scope(row, scope)) for scope in SCOPES}
    spent = {scope: store.spend(scope, since) for scope in SCOPES}
    assert spent == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert sum(amount > 0 for amount in expected.values()) > len(SCOPES) / 4  # most scopes hold rows: not all zeros
    assert expected[SpendScope(route="subagent")] > expected[SpendScope(route="subagent:explore")] > 0


@pytest.mark.parametrize("session", [None, "s1", "S1", "sé", "nobody"])
def test_totals_of_a_period_and_of_a_session_are_what_the_rows_say(stored: Stored, session: str | None) -> None:
    rows = varied_rows(300, local(2025, 3, 1), 10 * 86400)
    store = stored(rows)
    for since in (None, local(2025, 3, 4)):
        chosen = [
            row
            for row in rows
            if (since is None or row.time >= since) and (session is None or row.session_id == session)
        ]
        expected = totals_by_hand(chosen).as_dict()
        assert store.totals(since, session_id=session).as_dict() == pytest.approx(expected)
        assert session == "nobody" or expected["requests"] > 0


def test_each_dialect_speaks_its_own_placeholders_and_case_rules() -> None:
    scope = SpendScope(provider="p", model="m", route="subagent", exclude=("x", "y"), user="u")
    sqlite_sql, sqlite_parameters = spend_query(SQLITE, scope, 5.0)
    postgres_sql, postgres_parameters = spend_query(POSTGRES, scope, 5.0)
    assert sqlite_parameters == postgres_parameters == (5.0, "p", "m", "subagent", "subagent:%", "x", "y", "u")
    assert sqlite_sql.count("?") == postgres_sql.count("%s") == len(sqlite_parameters)
    assert "%s" not in sqlite_sql and "?" not in postgres_sql and "%" not in postgres_sql.replace("%s", "")
    assert totals_query(SQLITE, None, None) == (f"SELECT {SQLITE.sums} FROM requests ", ())
    assert totals_query(POSTGRES, 1.0, "s") == (
        f"SELECT {POSTGRES.sums} FROM ccr_requests WHERE time >= %s AND session_id = %s",
        (1.0, "s"),
    )
