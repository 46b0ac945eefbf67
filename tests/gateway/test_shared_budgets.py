"""STATE_URL: three real router processes share their budgets' spend through a real redis-server.

A budget crossed by requests through router A sends the very next request through C (which has served nothing
itself) to the budget's `then`, or refuses it with a 429 when the budget has none; a Redis that restarts empty
takes its spend back from the routers rather than starting the period again from $0; and while Redis does not
answer, a router's own spend still holds its budgets. The scripted provider reports a known usage at a known price
(`Prices`), so each request's cost is known to the test.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis

from ccrouter.config.loading import parse_config
from ccrouter.config.state_section import StateSettings
from ccrouter.gateway.accounting import Accounts
from ccrouter.gateway.logs import Logger
from ccrouter.gateway.redis_budgets import SharedBudgets
from ccrouter.gateway.shared_state import SharedState
from ccrouter.ledger.rows import LedgerRow
from tests.ledger.test_service_ledger import COST, PRICE, REQUEST, message
from tests.support.fake_upstream import ScriptedUpstream
from tests.support.redis_server import (  # noqa: F401 (fixtures)
    RedisServer,
    redis_server_fixture,
    redis_url_fixture,
)
from tests.support.router_process import RouterProcess, free_port
from tests.support.router_setup import LOOPBACK, StartRouter
from tests.support.waiting import wait_until

APIKEY = "admin-key-0123456789abcdef"
CAP = 2.5 * COST  # crossed by the third request's charge


def post(router: RouterProcess) -> httpx.Response:
    return LOOPBACK.post(router.url + "/v1/messages", json=REQUEST, headers={"x-api-key": APIKEY}, timeout=30)


def budget_config(main: ScriptedUpstream | str, cheap: ScriptedUpstream | str, then: bool = True) -> dict[str, Any]:
    """`prov,m` under a daily budget of CAP (going to `cheap,m` at the cap when `then`), both priced."""
    budget: dict[str, Any] = {"name": "team-daily", "scope": "provider:prov", "period": "day", "usd": CAP}
    if then:
        budget["then"] = "cheap,m"
    return {
        "Providers": [provider(main, "prov"), provider(cheap, "cheap")],
        "Router": {"default": "prov,m"},
        "Prices": {"prov,m": PRICE, "cheap,m": PRICE},
        "Budgets": [budget],
    }


def provider(upstream: ScriptedUpstream | str, name: str) -> dict[str, Any]:
    """An Anthropic-format provider at `upstream` (a running scripted one, or just an address), model "m"."""
    url = upstream if isinstance(upstream, str) else upstream.url
    return {
        "name": name,
        "api_base_url": f"{url}/v1/messages",
        "api_key": "sk-prov-key-0123",
        "models": ["m"],
        "transformer": {"use": ["Anthropic"]},
    }


def three_routers(start_router: StartRouter, redis_url: str, **config: Any) -> list[RouterProcess]:
    """Three routers with the same config and Redis, each with its own home (so its own ledger file: what they
    know of each other's spend comes from Redis only). A generous time budget: a loaded test machine must not fall
    back to in-process state by accident."""
    shared = {"APIKEY": APIKEY, "STATE_URL": redis_url, "STATE_TIMEOUT_MS": 2000, "DASHBOARD": False, **config}
    return [start_router(shared) for _ in range(3)]


def shared_spend(redis_url: str) -> float:
    """The budget's total in Redis (0 while it has none)."""
    with redis.Redis.from_url(redis_url) as client:
        keys = client.keys("ccr:budget:all:team-daily:*")
        assert len(keys) <= 1, keys
        return float(client.get(keys[0]) or 0) if keys else 0.0


def crossed(redis_url: str) -> Callable[[], bool]:
    return lambda: shared_spend(redis_url) >= CAP


def upstreams() -> tuple[ScriptedUpstream, ScriptedUpstream]:
    main, cheap = ScriptedUpstream().start(), ScriptedUpstream().start()
    main.default = lambda _: message("from prov")
    cheap.default = lambda _: message("from cheap")
    return main, cheap


def priced_row() -> LedgerRow:
    return LedgerRow(time=time.time(), request_id="r", status=200, provider="prov", model="m", cost_usd=COST)


def test_a_budget_crossed_through_one_router_switches_the_next_request_through_another(
    start_router: StartRouter, redis_url: str
) -> None:
    main, cheap = upstreams()
    try:
        a, b, c = three_routers(start_router, redis_url, **budget_config(main, cheap))
        for _ in range(3):  # 0, COST, 2 COST: under the cap when checked; the third's charge crosses it
            answer = post(a)
            assert answer.status_code == 200 and "x-ccr-budget" not in answer.headers, answer.text
        # A's charge reaches Redis in the background right after its request ends: the test waits for that, not
        # for any refresh of C's (C reads the shared total before each budget check).
        wait_until(crossed(redis_url), "A's spend in Redis")
        assert shared_spend(redis_url) == pytest.approx(3 * COST)
        switched = post(c)  # C's very first request: it has spent nothing itself
        assert switched.status_code == 200, switched.text
        assert switched.headers["x-ccr-budget"] == "team-daily"
        assert switched.json()["content"][0]["text"] == "from cheap"
        assert post(b).headers["x-ccr-provider"] == "cheap"
        assert len(main.received) == 3 and len(cheap.received) == 2
    finally:
        main.stop()
        cheap.stop()


def test_without_then_the_next_request_through_another_router_gets_a_429(
    start_router: StartRouter, redis_url: str
) -> None:
    main, cheap = upstreams()
    try:
        a, _, c = three_routers(start_router, redis_url, **budget_config(main, cheap, then=False))
        assert [post(a).status_code for _ in range(3)] == [200, 200, 200]
        wait_until(crossed(redis_url), "A's spend in Redis")
        refused = post(c)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert 'Budget "team-daily" is spent' in refused.json()["error"]["message"]
        assert len(main.received) == 3
    finally:
        main.stop()
        cheap.stop()


def test_a_redis_restarted_empty_takes_the_spend_back_from_the_routers(
    start_router: StartRouter, redis_url: str, redis_server: RedisServer
) -> None:
    main, cheap = upstreams()
    try:
        a, _, c = three_routers(start_router, redis_url, **budget_config(main, cheap))
        assert [post(a).status_code for _ in range(2)] == [200, 200]
        wait_until(lambda: shared_spend(redis_url) == pytest.approx(2 * COST), "A's spend in Redis")
        assert redis_server.command("FLUSHALL") == b"+OK"  # what a Redis without persistence is after a restart
        # A finds the total missing and seeds it with its own 2 COST before adding the third request's COST.
        assert post(a).headers.get("x-ccr-budget") is None
        wait_until(crossed(redis_url), "the reseeded total crossing the cap")
        assert shared_spend(redis_url) == pytest.approx(3 * COST)
        assert post(c).headers["x-ccr-provider"] == "cheap"
    finally:
        main.stop()
        cheap.stop()


def test_while_redis_does_not_answer_a_routers_own_spend_holds_its_budgets() -> None:
    main, cheap = (f"http://127.0.0.1:{free_port()}" for _ in range(2))  # nothing is sent to them
    config = parse_config(json.dumps({**budget_config(main, cheap), "LOG": False}), {})
    accounts = Accounts(config, None)

    async def scenario() -> list[str]:
        lines: list[str] = []
        log = Logger(None)
        log.write = lambda level, msg, fields: lines.append(msg)  # type: ignore[method-assign]
        state = SharedState(StateSettings(f"redis://127.0.0.1:{free_port()}/0", timeout_ms=50), log)
        shared = SharedBudgets(state, accounts.all_books)
        await state.start()
        for _ in range(3):
            await shared.refresh(accounts.books_for(None))
            decision = accounts.check("prov", "m", "default")
            assert decision is None or decision.target is None
            book = accounts.books_for(None)[0]
            shared.charge(book.charge(priced_row()))
        await shared.refresh(accounts.books_for(None))
        decision = accounts.check("prov", "m", "default")
        assert decision is not None and decision.target == ("cheap", "m")
        await state.close()
        return lines

    lines = asyncio.run(scenario())
    assert len(lines) == 1 and lines[0].startswith("shared state (STATE_URL) unreachable"), lines
