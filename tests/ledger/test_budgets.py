"""Budgets: spend per local day or month (read back from the ledger after a restart), one warning per period, at the
cap a switch to `then` or a 429 naming the budget, and under concurrency no request admitted past the cap but those
already in flight."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ccrouter.ledger.budgets import BudgetBook
from ccrouter.ledger.store import SqliteLedger
from tests.ledger.support import Reports, local, row, settings_with


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def budgets(*entries: dict[str, Any], store: SqliteLedger | None = None, clock: Clock, **keys: Any) -> BudgetBook:
    return BudgetBook(settings_with(Budgets=list(entries), **keys).budgets, store, clock=clock)


def daily(usd: float = 1.0, **more: Any) -> dict[str, Any]:
    return {"name": "daily", "scope": "all", "period": "day", "usd": usd, **more}


def spent(book: BudgetBook, name: str = "daily") -> float:
    return next(status.spent_usd for status in book.status() if status.name == name)


def test_a_day_ends_at_local_midnight() -> None:
    clock = Clock(local(2025, 3, 10, 23, 59, 59))
    book = budgets(daily(), clock=clock)
    book.charge(row(time=clock.now, provider="deepseek", model="deepseek-chat", cost_usd=0.6))
    assert spent(book) == pytest.approx(0.6)
    assert book.status()[0].resets_at == local(2025, 3, 11)
    clock.now = local(2025, 3, 11)
    assert spent(book) == 0.0 and book.status()[0].resets_at == local(2025, 3, 12)


def test_a_month_ends_at_local_midnight_of_its_last_day() -> None:
    clock = Clock(local(2025, 1, 31, 23, 59, 59))
    book = budgets(daily(period="month", name="monthly"), clock=clock)
    book.charge(row(time=clock.now, cost_usd=0.5))
    assert spent(book, "monthly") == 0.5 and book.status()[0].resets_at == local(2025, 2, 1)
    clock.now = local(2025, 2, 1)
    assert spent(book, "monthly") == 0.0 and book.status()[0].resets_at == local(2025, 3, 1)
    clock.now = local(2025, 12, 15)
    assert book.status()[0].resets_at == local(2026, 1, 1)


def test_a_request_that_began_before_the_reset_is_not_charged_to_the_new_period() -> None:
    clock = Clock(local(2025, 3, 11, 0, 0, 5))
    book = budgets(daily(), clock=clock)
    book.charge(row(time=local(2025, 3, 10, 23, 59, 50), cost_usd=0.6))
    assert spent(book) == 0.0


def test_spend_survives_a_restart(tmp_path: Path) -> None:
    store = SqliteLedger(tmp_path / "ledger.db")
    store.append(
        [
            row(time=local(2025, 3, 9, 23), provider="deepseek", model="deepseek-chat", cost_usd=5.0),  # yesterday
            row(time=local(2025, 3, 10, 1), provider="deepseek", model="deepseek-chat", cost_usd=0.25),
            row(time=local(2025, 3, 10, 2), provider="ollama", model="qwen3", cost_usd=0.5),
            row(time=local(2025, 3, 10, 3), provider="mystery", model="foo-1", cost_usd=None),
        ]
    )
    clock = Clock(local(2025, 3, 10, 12))
    entries = [daily(), {"name": "ds", "scope": "provider:deepseek", "period": "month", "usd": 100}]
    book = budgets(*entries, store=store, clock=clock)
    assert spent(book) == pytest.approx(0.75) and spent(book, "ds") == pytest.approx(5.25)
    store.close()


def test_an_unreadable_ledger_starts_budgets_from_zero_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "ledger.db").write_bytes(b"not a database" * 100)
    reports = Reports()
    rules = settings_with(Budgets=[daily()]).budgets
    book = BudgetBook(rules, SqliteLedger(tmp_path / "ledger.db"), clock=Clock(local(2025, 3, 10)), report=reports)
    assert spent(book) == 0.0
    assert "could not be read" in reports.of("error")[0] and "not a readable SQLite database" in reports.of("error")[0]


def test_the_warning_comes_once_per_period() -> None:
    clock = Clock(local(2025, 3, 10, 9))
    book = budgets(daily(usd=1.0, warn_at=0.5, then="ollama,qwen3", scope="provider:deepseek"), clock=clock)
    assert book.check("deepseek", "deepseek-chat", "default").warnings == ()
    book.charge(row(time=clock.now, provider="deepseek", model="deepseek-chat", cost_usd=0.6))
    first = book.check("deepseek", "deepseek-chat", "default")
    assert len(first.warnings) == 1 and not first.refused and first.target is None
    assert 'Budget "daily" has used $0.6000 of $1.00 this day (60%' in first.warnings[0]
    assert "go to ollama,qwen3" in first.warnings[0]
    assert book.check("deepseek", "deepseek-chat", "default").warnings == ()
    assert book.status()[0].state == "warn"
    clock.now = local(2025, 3, 11, 9)
    book.charge(row(time=clock.now, provider="deepseek", model="deepseek-chat", cost_usd=0.7))
    assert len(book.check("deepseek", "deepseek-chat", "default").warnings) == 1  # a new day, a new warning


def test_at_the_cap_requests_in_scope_go_to_then() -> None:
    clock = Clock(local(2025, 3, 10, 9))
    book = budgets(daily(usd=1.0, scope="provider:deepseek", then="ollama,qwen3"), clock=clock)
    book.charge(row(time=clock.now, provider="deepseek", model="deepseek-reasoner", cost_usd=1.0))
    decision = book.check("deepseek", "deepseek-chat", "think")
    assert decision.target == ("ollama", "qwen3") and decision.budget == "daily" and not decision.refused
    assert book.check("mystery", "foo-1", "default").target is None  # outside the scope
    assert book.status()[0].state == "over"


def test_at_the_cap_without_then_the_request_gets_a_429_naming_the_budget_its_spend_and_reset() -> None:
    clock = Clock(local(2025, 3, 10, 9))
    book = budgets(daily(usd=2.0), clock=clock)
    book.charge(row(time=clock.now, provider="deepseek", model="deepseek-chat", cost_usd=2.5))
    decision = book.check("deepseek", "deepseek-chat", "default")
    assert decision.refused and decision.budget == "daily"
    error = decision.error()
    assert (error.status, error.error_type) == (429, "rate_limit_error")
    assert 'Budget "daily" is spent: $2.50 of $2.00 this day (scope all)' in error.message
    assert "until it resets at 2025-03-11 00:00 local time" in error.message
    assert '"then": "provider,model"' in error.message


def test_a_then_that_is_over_another_budget_is_followed_or_refused() -> None:
    clock = Clock(local(2025, 3, 10, 9))
    book = budgets(
        {"name": "ds", "scope": "provider:deepseek", "period": "day", "usd": 1.0, "then": "mystery,foo-1"},
        {"name": "mystery", "scope": "provider:mystery", "period": "month", "usd": 1.0},
        clock=clock,
    )
    book.charge(row(time=clock.now, provider="deepseek", model="deepseek-chat", cost_usd=1.0))
    assert book.check("deepseek", "deepseek-chat", "default").target == ("mystery", "foo-1")
    book.charge(row(time=clock.now, provider="mystery", model="foo-1", cost_usd=1.0))
    decision = book.check("deepseek", "deepseek-chat", "default")
    assert decision.refused and decision.budget == "mystery" and 'Budget "mystery"' in (decision.refusal or "")


def test_a_route_budget_does_not_count_what_its_then_serves() -> None:
    clock = Clock(local(2025, 3, 10, 9))
    book = budgets(daily(usd=1.0, scope="route:think", then="ollama,qwen3"), clock=clock)
    book.charge(row(time=clock.now, scenario="think", provider="deepseek", model="deepseek-reasoner", cost_usd=0.5))
    book.charge(row(time=clock.now, scenario="think", provider="ollama", model="qwen3", cost_usd=0.75))
    book.charge(row(time=clock.now, scenario="default", provider="deepseek", model="deepseek-chat", cost_usd=0.75))
    assert spent(book) == pytest.approx(0.5)
    assert book.check("deepseek", "deepseek-reasoner", "think").target is None


def test_twenty_concurrent_requests_pass_the_cap_by_at_most_those_in_flight() -> None:
    """Twenty clients send requests of $1 each against a $10 cap. Every request admitted is charged when it ends;
    the cap may be passed only by requests admitted while others were still in flight."""
    clock = Clock(local(2025, 3, 10, 9))
    book = budgets(daily(usd=10.0, scope="provider:deepseek", then="ollama,qwen3"), clock=clock)
    lock = threading.Lock()
    admitted = switched = 0
    start = threading.Barrier(20)

    def client() -> None:
        nonlocal admitted, switched
        start.wait()
        for _ in range(5):
            decision = book.check("deepseek", "deepseek-chat", "default")
            if decision.target is not None:
                with lock:
                    switched += 1
                continue
            with lock:
                admitted += 1
            book.charge(row(time=clock.now, provider="deepseek", model="deepseek-chat", cost_usd=1.0))

    threads = [threading.Thread(target=client) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted + switched == 100
    assert spent(book) == pytest.approx(admitted)  # no charge lost under concurrency
    # The cap is reached, and passed only by requests admitted before the charge that reached it: at most the 19
    # other clients' requests in flight then (each client has one request at a time).
    assert 10 <= admitted <= 10 + 19
    assert book.check("deepseek", "deepseek-chat", "default").target == ("ollama", "qwen3")


def test_all_twenty_in_flight_at_once_may_pass_but_none_after() -> None:
    clock = Clock(local(2025, 3, 10, 9))
    book = budgets(daily(usd=10.0), clock=clock)
    book.charge(row(time=clock.now, cost_usd=9.5))
    decisions = [book.check("deepseek", "deepseek-chat", "default") for _ in range(20)]  # all sent before any ends
    assert not any(decision.refused for decision in decisions)
    for _ in decisions:
        book.charge(row(time=clock.now, cost_usd=0.1))
    assert book.check("deepseek", "deepseek-chat", "default").refused
