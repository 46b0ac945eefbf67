"""`ccr status` lists the budgets and their spend this period, read from the running service's `GET /api/budgets`
(`{"budgets": [BudgetStatus.as_dict(), ...]}`), behind APIKEY; nothing when there are none. The service here is a
stand-in serving that JSON on loopback (the real endpoint is tested with the service)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ccrouter.cli.status_view import budget_line, describe
from ccrouter.ledger.periods import next_period_start
from ccrouter.service.control import Status
from ccrouter.service.pidfile import PidInfo
from tests.support.json_server import JsonServer, json_server

KEY = "router-key-1234abcd"
PROVIDERS = [
    {
        "name": "deepseek",
        "api_base_url": "https://api.deepseek.com/chat/completions",
        "api_key": "sk-test",
        "models": ["deepseek-chat"],
    }
]
BUDGETS = [{"name": "daily", "scope": "all", "period": "day", "usd": 5.0}]


def budget(**fields: Any) -> dict[str, Any]:
    """One `BudgetStatus.as_dict()`, as GET /api/budgets lists it."""
    now = time.time()
    status: dict[str, Any] = {
        "name": "daily",
        "scope": "all",
        "period": "day",
        "usd": 5.0,
        "spent_usd": 1.23,
        "warn_at": 0.8,
        "state": "ok",
        "resets_at": next_period_start("day", now),
    }
    status.update(fields)
    return status


def config_file(tmp_path: Path, **keys: Any) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"Providers": PROVIDERS, "Router": {"default": "deepseek,deepseek-chat"}, **keys}))
    return path


@contextmanager
def service(routes: dict[str, tuple[int, Any]], apikey: str | None = None) -> Iterator[tuple[JsonServer, Status]]:
    """A stand-in service answering `routes`, as `ccr status` finds a running one."""
    with json_server({"/api/cooldowns": (200, {"cooling": []}), **routes}, apikey) as server:
        info = PidInfo(os.getpid(), "127.0.0.1", server.port, "", time.time() - 60)
        yield server, Status("running", info)


def status_text(tmp_path: Path, config: Path, routes: dict[str, tuple[int, Any]], apikey: str | None = None) -> str:
    with service(routes, apikey) as (server, current):
        text = describe(tmp_path, current, config)
        assert "/api/budgets" in server.paths()
        return text


def budget_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("budgets")]


def section(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("budgets"))
    return lines[start:]


def test_status_lists_each_budget_with_its_spend_share_reset_and_state(tmp_path: Path) -> None:
    month_end = next_period_start("month", time.time())
    budgets = [
        budget(),
        budget(name="deepseek", scope="provider:deepseek", period="month", usd=20.0, spent_usd=17.0, state="warn",
               resets_at=month_end),
        budget(name="opus", scope="model:anthropic,claude-opus-4-1", usd=2.0, spent_usd=2.0004, state="over"),
    ]  # fmt: skip
    text = status_text(tmp_path, config_file(tmp_path, Budgets=BUDGETS), {"/api/budgets": (200, {"budgets": budgets})})
    lines = section(text)
    assert lines[0].startswith("budgets (spend this period; at the cap, requests go to the budget's `then`")
    assert lines[1].split() == ["daily", "$1.23", "of", "$5.00", "this", "day", "(25%,", "resets", "00:00),", "scope",
                                "all"]  # fmt: skip
    month_reset = time.strftime("%Y-%m-%d %H:%M", time.localtime(month_end))
    if month_end - time.time() < 86_400:  # the last day of the month: the reset is within a day, shown as a time
        month_reset = "00:00"
    assert lines[2] == (
        f"  deepseek     $17.00 of $20.00 this month (85%, resets {month_reset}), scope provider:deepseek"
        "  WARN: near its cap"
    )
    assert lines[3].startswith("  opus         $2.00 of $2.00 this day (100%, resets 00:00), scope model:anthropic,")
    assert lines[3].endswith("  OVER: spent until it resets")
    assert len(lines) == 4


def test_small_spend_shows_fractions_of_a_cent(tmp_path: Path) -> None:
    assert "$0.0042 of $5.00 this day (0%," in budget_line(budget(spent_usd=0.0042), time.time())
    assert "$0.00 of $5.00" in budget_line(budget(spent_usd=0.0), time.time())


def test_no_budgets_no_section(tmp_path: Path) -> None:
    text = status_text(tmp_path, config_file(tmp_path), {"/api/budgets": (200, {"budgets": []})})
    assert not budget_lines(text) and text.endswith("cooling down: none (every target is in use)")


def test_a_service_without_the_endpoint_adds_nothing_unless_budgets_are_configured(tmp_path: Path) -> None:
    assert not budget_lines(status_text(tmp_path, config_file(tmp_path), {}))  # an older service: 404
    configured = status_text(tmp_path, config_file(tmp_path, Budgets=BUDGETS), {})
    assert "  budgets: (the service did not say)" in configured.splitlines()


@pytest.mark.parametrize(
    "reply",
    [
        (200, {"budgets": [{"name": "x"}]}),
        (200, {"budget": []}),
        (200, ["not", "an", "object"]),
        (500, {"error": "boom"}),
    ],
)
def test_an_answer_that_cannot_be_read_is_said_not_a_traceback(tmp_path: Path, reply: tuple[int, Any]) -> None:
    text = status_text(tmp_path, config_file(tmp_path, Budgets=BUDGETS), {"/api/budgets": reply})
    assert "  budgets: (the service did not say)" in text.splitlines()


def test_the_apikey_is_sent(tmp_path: Path) -> None:
    config = config_file(tmp_path, APIKEY=KEY, Budgets=BUDGETS)
    routes = {"/api/budgets": (200, {"budgets": [budget()]})}
    with service(routes, apikey=KEY) as (server, current):
        text = describe(tmp_path, current, config)
    sent = [headers for path, headers in server.seen if path == "/api/budgets"]
    assert sent and sent[0].get("x-api-key") == KEY
    assert section(text)[1].split()[:4] == ["daily", "$1.23", "of", "$5.00"]


def test_names_from_the_service_are_shown_inert(tmp_path: Path) -> None:
    routes = {"/api/budgets": (200, {"budgets": [budget(name="\x1b[31mred")]})}
    text = status_text(tmp_path, config_file(tmp_path, Budgets=BUDGETS), routes)
    assert "\x1b" not in text and "\\x1b[31mred" in text
