"""A team's ledger: three real router processes write one real PostgreSQL ledger (`LEDGER_URL`), sharing their live
state through a real redis-server (`STATE_URL`), while requests are spread over them at once.

The ledger then holds exactly one row per request, written by all three, and its totals (rows, each token column
and cost, as `ccr usage` reads them) equal what the scripted provider reported, request by request.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.ledger.test_service_ledger import message
from tests.ledger.test_service_postgres_ledger import (
    SUMMED,
    URL_VARIABLE,
    ccr_usage,
    cost_of,
    ledger_config,
    table_rows,
    usage_of,
)
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream
from tests.support.postgres_server import (  # noqa: F401 (fixtures)
    PostgresServer,
    postgres_server_fixture,
    postgres_url_fixture,
)
from tests.support.redis_server import (  # noqa: F401 (fixtures)
    redis_server_fixture,
    redis_url_fixture,
)
from tests.support.router_process import RouterProcess
from tests.support.router_setup import LOOPBACK, StartRouter
from tests.support.waiting import wait_until

APIKEY = "admin-key-0123456789abcdef"
REQUESTS = 60
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def numbered_request(number: int) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": f"n={number}"}]}


def reply_for(received: Received) -> Scripted:
    """The usage of request n is usage_of(n + 1): every request reports its own, known token counts."""
    number = int(received.body["messages"][0]["content"].removeprefix("n="))
    return message(f"answer {number}", usage_of(number + 1))


def post(router: RouterProcess, number: int) -> httpx.Response:
    return LOOPBACK.post(
        router.url + "/v1/messages", json=numbered_request(number), headers={"x-api-key": APIKEY}, timeout=30
    )


def test_three_routers_write_one_postgresql_ledger_whose_totals_equal_what_the_provider_reported(
    upstream: ScriptedUpstream,
    start_router: StartRouter,
    postgres_server: PostgresServer,
    postgres_url: str,
    redis_url: str,
) -> None:
    upstream.default = reply_for
    cfg = ledger_config(upstream, APIKEY=APIKEY, STATE_URL=redis_url, STATE_TIMEOUT_MS=2000, DASHBOARD=False)
    routers = [start_router(cfg, env={URL_VARIABLE: postgres_url}) for _ in range(3)]
    with ThreadPoolExecutor(9) as pool:  # three at a time through each router
        answers = list(pool.map(lambda n: post(routers[n % 3], n), range(REQUESTS)))
    assert [answer.status_code for answer in answers] == [200] * REQUESTS
    assert len(upstream.received) == REQUESTS

    rows = wait_until(
        lambda: found if len(found := table_rows(postgres_server, postgres_url)) >= REQUESTS else [],
        f"{REQUESTS} rows in PostgreSQL",
    )
    assert len(rows) == REQUESTS and len({row["request_id"] for row in rows}) == REQUESTS  # none lost or doubled
    writers = {row["request_id"][:-6] for row in rows}  # "req_<pid><start>" + a per-process count
    assert len(writers) == 3, writers
    reported = [usage_of(number + 1) for number in range(REQUESTS)]
    for column, usage_key in zip(SUMMED, USAGE_KEYS, strict=True):
        assert sum(row[column] for row in rows) == sum(usage[usage_key] for usage in reported), column
    expected_cost = sum(cost_of(usage) for usage in reported)
    assert sum(row["cost_usd"] for row in rows) == pytest.approx(expected_cost)

    result = ccr_usage(routers[1], "--json")
    assert result.returncode == 0, result.stderr
    total = json.loads(result.stdout)["total"]
    assert total["requests"] == REQUESTS
    for column, usage_key in zip(SUMMED, USAGE_KEYS, strict=True):
        assert total[column] == sum(usage[usage_key] for usage in reported), column
    assert total["cost_usd"] == pytest.approx(expected_cost)
