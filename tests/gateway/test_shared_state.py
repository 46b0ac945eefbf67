"""STATE_URL: three real router processes share cool-downs and users' rate limits through a real redis-server.

A cool-down one router learns (a 429 with Retry-After) is honoured by the other two, which skip that provider; a
burst of one user's requests spread over the three is cut at the user's limit; and Redis stopped and started again
mid-load costs no request (each router says once that it went and once that it came back) and no ledger row: the
routers' shared PostgreSQL ledger then holds exactly one row per request answered, with the tokens the provider
reported. In process: a Redis that stalls does not hold a request past STATE_TIMEOUT_MS, and without STATE_URL
redis is not even imported.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccrouter.config.loading import parse_config
from ccrouter.config.state_section import StateSettings
from ccrouter.config.users_section import RateLimit, key_digest
from ccrouter.errors import ConfigError
from ccrouter.gateway.logs import Logger
from ccrouter.gateway.redis_limits import RedisRateLimiter, SharedTicket
from ccrouter.gateway.shared_state import SharedState
from tests.ledger.test_service_postgres_ledger import (
    SUMMED,
    URL_VARIABLE,
    cost_of,
    ledger_config,
    table_rows,
    usage_of,
)
from tests.ledger.test_team_ledger import USAGE_KEYS, numbered_request, reply_for
from tests.support.fake_upstream import ScriptedUpstream, error_reply, openai_completion
from tests.support.postgres_server import (  # noqa: F401 (fixtures)
    PostgresServer,
    postgres_server_fixture,
    postgres_url_fixture,
)
from tests.support.redis_server import (  # noqa: F401 (fixtures)
    RedisServer,
    redis_server_fixture,
    redis_url_fixture,
)
from tests.support.router_process import RouterProcess
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider
from tests.support.waiting import wait_until

APIKEY = "admin-key-0123456789abcdef"
ANA_KEY = "ccr_ana-0123456789"
REQUEST = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]}
WENT = (
    "shared state (STATE_URL) unreachable; this process uses its own cool-downs and rate limits until it answers again"
)
BACK = "shared state (STATE_URL) answers again; cool-downs and rate limits are shared again"


def post(router: RouterProcess, key: str = APIKEY) -> httpx.Response:
    return LOOPBACK.post(router.url + "/v1/messages", json=REQUEST, headers={"x-api-key": key}, timeout=30)


def cooling_targets(router: RouterProcess) -> list[str]:
    answer = LOOPBACK.get(router.url + "/api/cooldowns", headers={"x-api-key": APIKEY})
    return [entry["target"] for entry in answer.json()["cooling"]]


def log_messages(router: RouterProcess, msg: str) -> list[dict[str, Any]]:
    return [record for record in router.log_records() if record.get("msg") == msg]


def ana_with_a_limit(requests_per_minute: int) -> dict[str, Any]:
    return {
        "name": "ana",
        "key_sha256": key_digest(ANA_KEY),
        "rate_limit": {"requests_per_minute": requests_per_minute},
    }


def three_routers(start_router: StartRouter, redis_url: str, **config: Any) -> list[RouterProcess]:
    """Three router processes with the same config, sharing `redis_url` (a generous time budget: a loaded test
    machine must not fall back to in-process state by accident)."""
    shared = {"APIKEY": APIKEY, "STATE_URL": redis_url, "STATE_TIMEOUT_MS": 2000, "DASHBOARD": False, **config}
    return [start_router(shared) for _ in range(3)]


def test_a_cool_down_learned_by_one_router_is_honoured_by_the_others(start_router: StartRouter, redis_url: str) -> None:
    first, second = ScriptedUpstream().start(), ScriptedUpstream().start()
    try:
        first.default = lambda _: openai_completion("from the first")
        second.default = lambda _: openai_completion("from the second")
        first.queue(error_reply(429, {"error": {"message": "slow down"}}, {"retry-after": "120"}))
        a, b, c = three_routers(
            start_router,
            redis_url,
            Providers=[openai_provider(first, name="one"), openai_provider(second, name="two")],
            Router={"default": "one,fake-model"},
            fallback={"default": ["two,fake-model"]},
        )
        learned = post(a)
        assert learned.status_code == 200 and learned.json()["content"][0]["text"] == "from the second"
        assert learned.headers["x-ccr-attempts"].startswith("one,fake-model=429")
        assert cooling_targets(a) == ["one,fake-model"]
        wait_until(lambda: cooling_targets(b) == cooling_targets(c) == ["one,fake-model"], "B and C see the rest")
        for router in (b, c, b, c):
            answer = post(router)
            assert answer.json()["content"][0]["text"] == "from the second"
            assert answer.headers["x-ccr-attempts"] == "one,fake-model=cooling, two,fake-model=200"
        assert len(first.received) == 1  # only A's first request reached the resting provider
        assert len(second.received) == 5
    finally:
        first.stop()
        second.stop()


def test_a_users_rate_limit_holds_across_routers(
    start_router: StartRouter, redis_url: str, upstream: ScriptedUpstream
) -> None:
    upstream.default = lambda _: openai_completion("fine")
    routers = three_routers(
        start_router,
        redis_url,
        Providers=[openai_provider(upstream)],
        Router={"default": "fake,fake-model"},
        Users=[ana_with_a_limit(5)],
    )
    with ThreadPoolExecutor(12) as pool:  # 4 to each router at once: each alone would admit all of its 4
        answers = list(pool.map(lambda i: post(routers[i % 3], ANA_KEY), range(12)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 5 + [429] * 7, statuses
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert "over their rate limit of 5 requests per minute" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert len(upstream.received) == 5


def load_through_a_redis_outage(
    routers: list[RouterProcess], redis_server: RedisServer, send: Callable[[RouterProcess, int], httpx.Response]
) -> list[tuple[int, httpx.Response]]:
    """Six clients `send` numbered requests through the routers (two each) while Redis is stopped, noticed gone by
    every router, and started again, noticed back; (number, answer) of every request, at least 30 of them served
    in each phase."""
    answers: list[tuple[int, httpx.Response]] = []
    numbers, numbering, stop = itertools.count(), threading.Lock(), threading.Event()

    def client(index: int) -> None:
        while not stop.is_set():
            with numbering:
                number = next(numbers)
            answers.append((number, send(routers[index % 3], number)))

    with ThreadPoolExecutor(6) as pool:
        running = [pool.submit(client, i) for i in range(6)]
        try:
            ride_out_a_redis_outage(routers, redis_server, lambda: len(answers))
        finally:
            stop.set()
        for future in running:
            future.result()
    return answers


def ride_out_a_redis_outage(routers: list[RouterProcess], redis_server: RedisServer, served: Callable[[], int]) -> None:
    """Stop Redis and start it again while requests are being `served`, each step waited on."""
    wait_until(lambda: served() >= 30, "load under way")
    redis_server.stop()
    wait_until(lambda: all(log_messages(r, WENT) for r in routers), "every router notices Redis is gone")
    during = served()
    wait_until(lambda: served() >= during + 30, "requests served while Redis is gone")
    redis_server.start()
    wait_until(lambda: all(log_messages(r, BACK) for r in routers), "every router notices Redis is back")
    back = served()
    wait_until(lambda: served() >= back + 30, "requests served after Redis came back")


def test_redis_stopped_and_started_mid_load_loses_no_request(
    start_router: StartRouter, redis_url: str, redis_server: RedisServer, upstream: ScriptedUpstream
) -> None:
    upstream.default = lambda _: openai_completion("fine")
    routers = three_routers(
        start_router,
        redis_url,
        Providers=[openai_provider(upstream)],
        Router={"default": "fake,fake-model"},
        Users=[ana_with_a_limit(1_000_000)],
        STATE_TIMEOUT_MS=200,
    )
    answers = load_through_a_redis_outage(routers, redis_server, lambda router, _: post(router, ANA_KEY))
    statuses = {answer.status_code for _, answer in answers}
    assert statuses == {200}, sorted(statuses)
    for router in routers:
        assert len(log_messages(router, WENT)) == 1 and len(log_messages(router, BACK)) == 1
    assert redis_server.command("EXISTS", "ccr:rl:ana:at") == b":1"  # counting in Redis again


def post_numbered(router: RouterProcess, number: int) -> httpx.Response:
    """Request `number` as ana; the provider reports usage_of(number + 1) for it (reply_for)."""
    return LOOPBACK.post(
        router.url + "/v1/messages", json=numbered_request(number), headers={"x-api-key": ANA_KEY}, timeout=30
    )


def test_redis_stopped_and_started_mid_load_loses_no_ledger_row(
    start_router: StartRouter,
    redis_url: str,
    redis_server: RedisServer,
    upstream: ScriptedUpstream,
    postgres_server: PostgresServer,
    postgres_url: str,
) -> None:
    upstream.default = reply_for
    budget = {"name": "team-daily", "scope": "provider:prov", "period": "day", "usd": 1_000_000}  # charged in Redis
    cfg = ledger_config(
        upstream,
        APIKEY=APIKEY,
        STATE_URL=redis_url,
        STATE_TIMEOUT_MS=200,
        DASHBOARD=False,
        Users=[ana_with_a_limit(1_000_000)],
        Budgets=[budget],
    )
    routers = [start_router(cfg, env={URL_VARIABLE: postgres_url}) for _ in range(3)]
    answers = load_through_a_redis_outage(routers, redis_server, post_numbered)
    statuses = {answer.status_code for _, answer in answers}
    assert statuses == {200}, sorted(statuses)
    number_of = {answer.headers["request-id"]: number for number, answer in answers}
    assert len(number_of) == len(answers)
    for router in routers:
        router.stop()  # writes the rows still waiting: the ledger is complete from here on

    rows = table_rows(postgres_server, postgres_url)
    missing = number_of.keys() - {row["request_id"] for row in rows}
    assert not missing, f"{len(missing)} of {len(answers)} answered requests have no ledger row"
    assert sorted(row["request_id"] for row in rows) == sorted(number_of)  # and none doubled or unknown
    for row in rows:
        reported = usage_of(number_of[row["request_id"]] + 1)
        assert [row[column] for column in SUMMED] == [reported[key] for key in USAGE_KEYS], row
    reported_all = [usage_of(number + 1) for number in number_of.values()]
    for column, usage_key in zip(SUMMED, USAGE_KEYS, strict=True):
        assert sum(row[column] for row in rows) == sum(usage[usage_key] for usage in reported_all), column
    assert sum(row["cost_usd"] for row in rows) == pytest.approx(sum(cost_of(usage) for usage in reported_all))


def test_a_stalled_redis_does_not_hold_a_request_past_the_time_budget(
    redis_server: RedisServer, redis_url: str
) -> None:
    async def scenario() -> tuple[float, SharedTicket | object, list[str]]:
        lines: list[str] = []
        log = Logger(None)
        log.write = lambda level, msg, fields: lines.append(msg)  # type: ignore[method-assign]
        state = SharedState(StateSettings(redis_url, timeout_ms=50), log)
        limiter = RedisRateLimiter(state)
        await state.start()
        limit = RateLimit(requests_per_minute=100, tokens_per_minute=None)
        assert isinstance(await limiter.admit("ana", limit, 10), SharedTicket)
        assert redis_server.command("CLIENT", "PAUSE", "1500", "ALL") == b"+OK"  # Redis answers nothing meanwhile
        started = time.perf_counter()
        ticket = await limiter.admit("ana", limit, 10)
        waited = time.perf_counter() - started
        await state.close()
        return waited, ticket, lines

    waited, ticket, lines = asyncio.run(scenario())
    assert not isinstance(ticket, SharedTicket)  # admitted by the process's own limiter
    assert waited < 0.5, f"the request waited {waited:.3f} s on a stalled Redis"
    assert lines == [WENT]


def test_state_url_is_checked_and_without_it_redis_is_never_imported(tmp_path: Path) -> None:
    config = parse_config('{"STATE_URL": "redis://127.0.0.1:1/0", "STATE_PREFIX": "team-a:"}', {})
    assert config.state == StateSettings("redis://127.0.0.1:1/0", "team-a:", 50)
    with pytest.raises(ConfigError, match="STATE_URL must be a Redis address"):
        parse_config('{"STATE_URL": "http://127.0.0.1:6379"}', {})
    script = (
        "import sys; from ccrouter.config.loading import parse_config; from ccrouter.gateway.server import build_app; "
        "app = build_app(parse_config('{\"LOG\": false}', {}), tune_gc=False); "
        "print(type(app.gateway.cooldowns).__name__, 'redis' in sys.modules)"
    )
    env = {"CCR_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    shown = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert shown.stdout.split() == ["Cooldowns", "False"]
