"""Per-user keys against the real service: each request is someone's (a user's key, or the APIKEY's admin), the
log line and the ledger row say whose, a user reaches only the routes given to them, a burst past their rate limit
is cut at the limit with 429 and retry-after, their own budget refuses them when spent, and `ccr user add/remove`
apply by hot reload (a removed user's key is refused)."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import pytest

from ccrouter.config.users_section import key_digest
from ccrouter.ledger.store import SqliteLedger
from ccrouter.paths import LEDGER_FILE
from tests.security.streams import REQUEST
from tests.support.ccr_cli import ccr_command
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, openai_text_reply
from tests.support.router_process import RouterProcess
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider, sdk_client
from tests.support.waiting import wait_until

APIKEY = "admin-key-0123456789abcdef"
KEYS = {"ana": "ccr_ana-0123456789", "cy": "ccr_cy-0123456789", "dee": "ccr_dee-0123456789"}


def served_by(received: Received) -> Scripted:
    return openai_text_reply(f"served by {received.body['model']}", bool(received.body.get("stream")))


def team_config(upstream: ScriptedUpstream, **extra: Any) -> dict[str, Any]:
    return {
        "APIKEY": APIKEY,
        "Providers": [openai_provider(upstream, models=["model-a", "model-b"])],
        "Router": {"default": "fake,model-a", "think": "fake,model-b"},
        "Prices": {"fake,model-a": {"input": 1000, "output": 1000}},
        "Users": [
            {"name": "ana", "key_sha256": key_digest(KEYS["ana"]), "routes": ["default"]},
            {"name": "cy", "key_sha256": key_digest(KEYS["cy"]), "rate_limit": {"requests_per_minute": 3}},
            {
                "name": "dee",
                "key_sha256": key_digest(KEYS["dee"]),
                "budgets": [{"name": "tiny", "period": "day", "usd": 0.000001}],
            },
        ],
        **extra,
    }


def post(router: RouterProcess, key: str, model: str = "claude-sonnet-4-5") -> Any:
    return LOOPBACK.post(router.url + "/v1/messages", json={**REQUEST, "model": model}, headers={"x-api-key": key})


def ledger_by_user(home: Path) -> dict[str | None, int]:
    if not (home / LEDGER_FILE).exists():
        return {}
    store = SqliteLedger(home / LEDGER_FILE, read_only=True)
    try:
        return {group.keys["user"]: group.totals.requests for group in store.aggregate(None, "user").rows}
    finally:
        store.close()


@pytest.fixture
def team(upstream: ScriptedUpstream, start_router: StartRouter) -> RouterProcess:
    upstream.default = served_by
    return start_router(team_config(upstream))


def test_a_users_key_works_and_the_log_line_and_ledger_row_name_the_user(team: RouterProcess) -> None:
    reply = sdk_client(team.url, api_key=KEYS["ana"]).messages.create(**REQUEST)
    assert reply.content[0].text == "served by model-a"  # type: ignore[union-attr]
    bearer = sdk_client(team.url, api_key=None, auth_token=KEYS["cy"]).messages.create(**REQUEST)
    assert bearer.content[0].text == "served by model-a"  # type: ignore[union-attr]
    sdk_client(team.url, api_key=APIKEY).messages.create(**REQUEST)

    records = team.wait_for_records(3)
    assert [record["user"] for record in records] == ["ana", "cy", "admin"]
    wait_until(lambda: sum(ledger_by_user(team.home).values()) == 3, "the three requests' ledger rows")
    assert ledger_by_user(team.home) == {"ana": 1, "cy": 1, "admin": 1}
    assert KEYS["ana"] not in team.config_path.read_text()  # only the hash is in the config


def test_a_wrong_key_is_refused_and_a_users_key_cannot_reach_the_admins_endpoints(team: RouterProcess) -> None:
    with pytest.raises(anthropic.AuthenticationError, match="your user key"):
        sdk_client(team.url, api_key="ccr_not-a-user").messages.create(**REQUEST)
    metrics = LOOPBACK.get(team.url + "/metrics", headers={"x-api-key": KEYS["ana"]})
    assert metrics.status_code == 403 and "needs the router's APIKEY" in metrics.text
    assert LOOPBACK.get(team.url + "/metrics", headers={"x-api-key": APIKEY}).status_code == 200
    assert LOOPBACK.get(team.url + "/v1/models", headers={"x-api-key": KEYS["ana"]}).status_code == 200


def test_a_user_cannot_reach_a_route_not_given_to_them(team: RouterProcess) -> None:
    think = post(team, KEYS["ana"], "claude-ccr/route/think")
    assert think.status_code == 403, think.text
    error = think.json()["error"]
    assert error["type"] == "permission_error"
    assert "User 'ana' may not use route think; their routes are: default." in error["message"]
    explicit = post(team, KEYS["ana"], "fake,model-b")
    assert explicit.status_code == 403 and "route explicit" in explicit.json()["error"]["message"]
    assert post(team, KEYS["cy"], "claude-ccr/route/think").json()["content"][0]["text"] == "served by model-b"
    assert post(team, APIKEY, "fake,model-b").status_code == 200  # the admin reaches every route
    assert [record["status"] for record in team.wait_for_records(4)] == [403, 403, 200, 200]


def test_a_burst_past_the_rate_limit_is_cut_at_the_limit_with_retry_after(team: RouterProcess) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(team, KEYS["cy"]), range(8)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 3 + [429] * 5
    refused = [answer for answer in answers if answer.status_code == 429]
    for answer in refused:
        assert answer.json()["error"]["type"] == "rate_limit_error"
        assert "over their rate limit of 3 requests per minute" in answer.json()["error"]["message"]
        assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert post(team, KEYS["ana"]).status_code == 200  # another user is not held up


def test_a_users_own_budget_refuses_them_once_spent_and_no_one_else(team: RouterProcess) -> None:
    assert post(team, KEYS["dee"]).status_code == 200  # 17 tokens at $1000 per million: over $0.000001
    wait_until(lambda: ledger_by_user(team.home).get("dee") == 1, "dee's ledger row")
    spent = post(team, KEYS["dee"])
    assert spent.status_code == 429, spent.text
    assert 'Budget "dee/tiny" is spent' in spent.json()["error"]["message"]
    assert post(team, KEYS["ana"]).status_code == 200


def ccr(router: RouterProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**router.env, "CCR_HOME": str(router.home)}
    return subprocess.run([*ccr_command(), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def reloads(router: RouterProcess) -> int:
    return sum(record.get("msg") == "config reloaded" for record in router.log_records())


def test_ccr_user_add_and_remove_apply_by_hot_reload(team: RouterProcess) -> None:
    before = reloads(team)
    added = ccr(team, "user", "add", "eve", "--routes", "default,background", "--rpm", "30")
    assert added.returncode == 0, added.stderr
    key = next(line for line in added.stdout.splitlines() if line.startswith("ccr_"))
    assert key not in team.config_path.read_text() and key_digest(key) in team.config_path.read_text()
    wait_until(lambda: reloads(team) > before, "the config reloaded line", explain=team.log_records)
    assert post(team, key).status_code == 200

    listed = ccr(team, "user", "list")
    assert "eve  routes: default, background  requests/min: 30" in listed.stdout, listed
    assert key_digest(key) not in listed.stdout and key_digest(KEYS["ana"]) not in listed.stdout

    wait_until(lambda: ledger_by_user(team.home) == {"eve": 1}, "eve's ledger row (the writer's batch on disk)")
    usage = ccr(team, "usage", "--by", "user", "--json")
    assert usage.returncode == 0, usage.stderr
    assert {row["user"]: row["requests"] for row in json.loads(usage.stdout)["rows"]} == {"eve": 1}

    before = reloads(team)
    removed = ccr(team, "user", "remove", "eve")
    assert removed.returncode == 0, removed.stderr
    wait_until(lambda: reloads(team) > before, "the config reloaded line", explain=team.log_records)
    refused = post(team, key)
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    assert "eve" not in ccr(team, "user", "list").stdout


def test_ccr_user_add_refuses_what_would_not_load(team: RouterProcess) -> None:
    taken = ccr(team, "user", "add", "ana")
    assert taken.returncode == 2 and "There is already a user 'ana'" in taken.stderr
    bad = ccr(team, "user", "add", "Eve")
    assert bad.returncode == 2 and "Users[3].name is 'Eve'" in bad.stderr
    route = ccr(team, "user", "add", "eve", "--routes", "fast")
    assert route.returncode == 2 and "'fast' is not a route a user can be given" in route.stderr
    assert "eve" not in team.config_path.read_text() and "Eve" not in team.config_path.read_text()
