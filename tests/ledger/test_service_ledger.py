"""The ledger as the real service writes it: one row per request with the usage the provider reported (streamed or
not, cache tokens, a fallback, an error, a client that leaves), cost and savings at hand-computed prices, an
unknown price's null cost and hint, and budgets under concurrency and across a restart."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_upstream import (
    Scripted,
    ScriptedUpstream,
    anthropic_sse_reply,
    error_reply,
    json_reply,
)
from tests.support.router_process import RouterProcess
from tests.support.router_setup import LOOPBACK, StartRouter

pytestmark = pytest.mark.process

# USD per million tokens for the scripted provider; Claude Sonnet 4.5 (the baseline, from genai-prices) is 3 / 15 /
# 0.30 / 3.75 below 200K input tokens.
PRICE = {"input": 1.0, "output": 2.0, "cache_read": 0.5, "cache_write": 1.25}
USAGE = {
    "input_tokens": 1000,
    "output_tokens": 500,
    "cache_read_input_tokens": 2000,
    "cache_creation_input_tokens": 300,
}
COST = (1000 * 1.0 + 500 * 2.0 + 2000 * 0.5 + 300 * 1.25) / 1e6  # 0.003375
BASELINE = (1000 * 3.0 + 500 * 15.0 + 2000 * 0.30 + 300 * 3.75) / 1e6  # 0.012225
REQUEST = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def anthropic_provider(
    upstream: ScriptedUpstream, name: str = "prov", key: str | None = "sk-prov-key-0123"
) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "name": name,
        "api_base_url": f"{upstream.url}/v1/messages",
        "models": ["m"],
        "transformer": {"use": ["Anthropic"]},
    }
    if key is not None:
        provider["api_key"] = key
    return provider


def message(text: str = "hello", usage: dict[str, int] = USAGE) -> Scripted:
    return json_reply(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
    )


def message_stream(delay: float = 0.0) -> Scripted:
    start_usage = {**USAGE, "output_tokens": 1}
    return anthropic_sse_reply(
        [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_1",
                        "type": "message",
                        "role": "assistant",
                        "model": "m",
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hello"}},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": 500},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ],
        delay=delay,
    )


def config(upstream: ScriptedUpstream, **extra: Any) -> dict[str, Any]:
    return {
        "Providers": [anthropic_provider(upstream)],
        "Router": {"default": "prov,m"},
        "Prices": {"prov,m": PRICE},
        **extra,
    }


def rows(router: RouterProcess, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The ledger's rows, once it holds at least `count` (the writer batches every 200 ms)."""
    path = router.home / "ledger.db"
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        if path.exists():
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                db.row_factory = sqlite3.Row
                try:
                    found = [dict(row) for row in db.execute("SELECT * FROM requests ORDER BY time, request_id")]
                except sqlite3.OperationalError:
                    found = []
            if len(found) >= count:
                return found
        time.sleep(0.05)
    raise AssertionError(f"the ledger holds {len(found)} rows, not {count}, after {timeout} s")


def post(router: RouterProcess, body: dict[str, Any] = REQUEST) -> Any:
    return LOOPBACK.post(router.url + "/v1/messages", json=body, timeout=30)


def test_a_row_holds_the_usage_the_provider_reported_and_its_cost_and_savings(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    upstream.queue(message(), message_stream())
    router = start_router(config(upstream))
    assert post(router).status_code == 200
    streamed = post(router, {**REQUEST, "stream": True})
    assert streamed.status_code == 200 and "message_stop" in streamed.text
    plain, stream = rows(router, 2)
    for row in (plain, stream):
        assert (row["input_tokens"], row["output_tokens"]) == (1000, 500)
        assert (row["cache_read_tokens"], row["cache_write_tokens"]) == (2000, 300)
        assert (row["provider"], row["model"], row["requested_model"]) == ("prov", "m", "claude-sonnet-4-5")
        assert row["status"] == 200 and row["scenario"] == "default"
        assert row["cost_usd"] == pytest.approx(COST)
        assert row["baseline_cost_usd"] == pytest.approx(BASELINE)
        prices = json.loads(row["prices"])  # the prices used travel with the row
        assert prices["cost"] == {**PRICE, "source": "Prices", "priced_as": "prov,m"}
        assert prices["baseline"]["priced_as"] == "anthropic,claude-sonnet-4-5"
    assert stream["ttft_ms"] is not None


def test_a_fallback_an_error_and_a_client_that_leaves(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    failing = ScriptedUpstream().start()
    try:
        failing.default = lambda received: error_reply(500, {"error": {"message": "boom"}})
        cfg = config(upstream)
        cfg["Providers"].append(anthropic_provider(failing, "bad"))
        cfg["Router"] = {"default": "bad,m"}
        cfg["fallback"] = {"default": ["prov,m"]}
        cfg["RETRY"] = {"max_retries": 0}
        router = start_router(cfg)
        upstream.queue(message())
        assert post(router).status_code == 200  # bad -> prov
        fallback = rows(router, 1)[0]
        assert (fallback["provider"], fallback["input_tokens"], fallback["status"]) == ("prov", 1000, 200)
        assert '"bad,m"' in fallback["attempts"] and '"prov,m"' in fallback["attempts"]

        upstream.queue(error_reply(500, {"error": {"message": "also down"}}))
        assert post(router).status_code >= 500
        failed = rows(router, 2)[1]
        assert failed["status"] >= 500 and failed["input_tokens"] == 0 and failed["cost_usd"] == 0

        upstream.queue(message_stream(delay=0.5))  # slow events: the client leaves after the first
        with LOOPBACK.stream("POST", router.url + "/v1/messages", json={**REQUEST, "stream": True}, timeout=30) as r:
            next(r.iter_raw())
        left = rows(router, 3)[2]
        # A client that leaves: status 499, and the usage read so far (message_start's input and cache tokens)
        # is what the provider will bill, so the row keeps it and its cost.
        assert left["status"] == 499
        assert (left["input_tokens"], left["cache_read_tokens"], left["cache_write_tokens"]) == (1000, 2000, 300)
        assert left["output_tokens"] == 1  # message_start's count: the rest never came
        assert left["cost_usd"] == pytest.approx((1000 * 1.0 + 1 * 2.0 + 2000 * 0.5 + 300 * 1.25) / 1e6)
    finally:
        failing.stop()


def test_an_unknown_price_is_null_with_one_hint(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    upstream.default = lambda received: message()
    cfg = config(upstream)
    del cfg["Prices"]
    router = start_router(cfg)
    for _ in range(2):
        assert post(router).status_code == 200
    for row in rows(router, 2):
        assert row["cost_usd"] is None
        assert row["baseline_cost_usd"] == pytest.approx(BASELINE)
    hints = [r for r in router.log_records() if "Prices" in str(r.get("msg", ""))]
    assert len(hints) == 1, hints
    assert '"prov,m"' in hints[0]["msg"]


def served(router: RouterProcess) -> tuple[str, str | None]:
    response = post(router)
    assert response.status_code == 200, response.text
    return response.headers["x-ccr-provider"], response.headers.get("x-ccr-budget")


def test_a_budget_crossed_by_20_clients_switches_to_then_and_survives_a_restart(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    free = ScriptedUpstream().start()
    try:
        free.default = lambda received: message()
        upstream.default = lambda received: message()
        cfg = config(upstream)
        cfg["Providers"].append(anthropic_provider(free, "free", key=None))  # keyless on loopback: costs 0
        cfg["Budgets"] = [{"name": "daily", "scope": "provider:prov", "period": "day", "usd": 0.01, "then": "free,m"}]
        router = start_router(cfg)
        results: list[tuple[str, str | None]] = []
        lock = threading.Lock()

        def client() -> None:
            for _ in range(5):
                outcome = served(router)
                with lock:
                    results.append(outcome)

        threads = [threading.Thread(target=client) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(results) == 100
        on_prov = sum(1 for provider, _ in results if provider == "prov")
        # 0.01 USD is crossed by the third request at 0.003375 each; past it only those already in flight (at most
        # 20 clients, one request each) may still go to prov.
        assert 3 <= on_prov <= 3 + 20, on_prov
        assert all(budget == "daily" for provider, budget in results if provider == "free")
        rows(router, 100)  # on disk before the restart

        router.stop()
        router.start()
        assert served(router) == ("free", "daily")  # the spend came back from the ledger
        status = LOOPBACK.get(router.url + "/api/budgets", timeout=10).json()["budgets"][0]
        assert status["name"] == "daily" and status["state"] == "over"
        assert status["spent_usd"] == pytest.approx(on_prov * COST)
    finally:
        free.stop()


def test_a_spent_budget_without_then_answers_429_naming_it(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    upstream.default = lambda received: message()
    cfg = config(upstream, Budgets=[{"name": "tiny", "period": "month", "usd": 0.001}])
    router = start_router(cfg)
    assert post(router).status_code == 200  # 0.003375 spent: over
    refused = post(router)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error" and "tiny" in error["message"]
    assert refused.headers.get("x-ccr-budget") == "tiny"


def test_ledger_false_writes_no_file(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    upstream.default = lambda received: message()
    router = start_router(config(upstream, LEDGER=False))
    assert post(router).status_code == 200
    assert not (router.home / "ledger.db").exists()


def test_metrics_count_requests_tokens_cost_and_budgets(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    upstream.default = lambda received: message()
    cfg = config(upstream, APIKEY="router-key-0123456789", Budgets=[{"name": "daily", "period": "day", "usd": 1}])
    router = start_router(cfg)
    key = {"x-api-key": "router-key-0123456789"}
    for _ in range(3):
        assert LOOPBACK.post(router.url + "/v1/messages", json=REQUEST, headers=key, timeout=30).status_code == 200
    assert LOOPBACK.get(router.url + "/metrics", timeout=10).status_code == 401  # behind APIKEY like the rest
    scraped = LOOPBACK.get(router.url + "/metrics", headers=key, timeout=10)
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    target = (("model", "m"), ("provider", "prov"))
    requests = (("model", "m"), ("provider", "prov"), ("scenario", "default"), ("status", "200"))
    assert samples[("ccr_requests_total", requests)] == 3
    assert samples[("ccr_tokens_total", (("kind", "cache_read"), *target))] == 3 * 2000
    assert samples[("ccr_cost_usd_total", target)] == pytest.approx(3 * COST)
    assert samples[("ccr_savings_usd_total", target)] == pytest.approx(3 * (BASELINE - COST))
    assert samples[("ccr_budget_spent_usd", (("budget", "daily"),))] == pytest.approx(3 * COST)
    assert (
        samples[("ccr_request_duration_seconds_count", (("model", "m"), ("provider", "prov"), ("scenario", "default")))]
        == 3
    )


def test_the_session_endpoint_and_the_statusline_show_cost_and_savings(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Any
) -> None:
    import subprocess
    import sys

    upstream.default = lambda received: message()
    router = start_router(config(upstream))
    session = "0b5e7a9c-1111-4222-8333-944445555666"
    body = {**REQUEST, "metadata": {"user_id": json.dumps({"session_id": session})}}
    for _ in range(2):
        assert post(router, body).status_code == 200
    activity = LOOPBACK.get(f"{router.url}/api/sessions/{session}", timeout=10).json()
    assert activity["total_cost_usd"] == pytest.approx(2 * COST)
    assert activity["total_savings_usd"] == pytest.approx(2 * (BASELINE - COST))
    assert activity["budget"] is None
    assert router.proc is not None  # recorded as `ccr start` records it, so that the statusline finds the service
    pid_file = {"pid": router.proc.pid, "host": "127.0.0.1", "port": router.port, "config": str(router.config_path)}
    (router.home / "ccr.pid").write_text(json.dumps(pid_file))
    line = subprocess.run(
        [str(Path(sys.executable).parent / "ccr"), "statusline"],  # as Claude Code runs it
        input=json.dumps(
            {"session_id": session, "model": {"display_name": "Sonnet"}, "workspace": {"current_dir": "/tmp"}}
        ),
        capture_output=True,
        text=True,
        env={**router.env},
        timeout=30,
    )
    assert line.returncode == 0, line.stderr
    from ccrouter.statusline.style import format_cost

    shown = f"{format_cost(2 * COST)} (saved {format_cost(2 * (BASELINE - COST))})"  # "$0.0067 (saved $0.0177)"
    assert shown in line.stdout, line.stdout


def test_a_corrupt_ledger_is_reported_once_and_recovers_when_moved_aside(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path
) -> None:
    upstream.default = lambda received: message()
    home = tmp_path / "corrupt-home"
    home.mkdir()
    (home / "ledger.db").write_bytes(b"this is not a database, just bytes " * 100)
    router = start_router(config(upstream), home=home)
    for _ in range(3):
        assert post(router).status_code == 200  # served whatever the ledger file holds

    def ledger_lines(level: str) -> list[dict[str, Any]]:
        return [r for r in router.log_records() if r["level"] == level and "ledger" in str(r.get("msg", "")).lower()]

    deadline = time.monotonic() + 15
    while not ledger_lines("error") and time.monotonic() < deadline:
        time.sleep(0.05)
    errors = ledger_lines("error")
    assert len(errors) == 1 and "mv " in errors[0]["msg"], errors  # what is wrong, and what to do
    (home / "ledger.db").rename(home / "ledger.db.corrupt")  # what the message says to do
    for suffix in ("-wal", "-shm"):
        (home / f"ledger.db{suffix}").unlink(missing_ok=True)
    assert post(router).status_code == 200
    assert len(rows(router, 4)) == 4  # the rows kept in memory meanwhile, and the new one
    assert len(ledger_lines("error")) == 1


def test_a_retried_request_is_one_row_with_both_attempts(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    upstream.queue(error_reply(503, {"error": {"message": "busy"}}), message())
    router = start_router(config(upstream, RETRY={"max_retries": 1, "initial_backoff_ms": 1, "max_backoff_ms": 1}))
    assert post(router).status_code == 200
    (row,) = rows(router, 1)
    attempts = json.loads(row["attempts"])
    assert [a["status"] for a in attempts] == [503, 200]  # the same target, round two
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 1000, 500)
    assert row["cost_usd"] == pytest.approx(COST)  # the provider billed the answer it gave, once


def test_a_row_names_its_sessions_project_even_when_the_request_does_not(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    """Claude Code's chores (the title, the model probe) do not carry the environment text that names the working
    directory; their rows take it from their session's other requests once one has named it."""
    captured = Path(__file__).parent.parent / "fixtures" / "claude_code"
    probe, turn = (captured / "model_probe.json", captured / "interactive_turn.json")  # one session
    title, main = (captured / "routing" / "title_chore.json", captured / "routing" / "interactive_main.json")
    order = [probe, turn, probe, main, title]
    upstream.queue(*(message() for _ in order))
    router = start_router(config(upstream))
    for path in order:
        assert post(router, {**json.loads(path.read_text()), "stream": False}).status_code == 200
    projects = [row["project"] for row in sorted(rows(router, len(order)), key=lambda row: row["time"])]
    assert projects == [
        None,  # the session has not named its directory yet
        "/tmp/cc-capture-0ret04ia/interactive/home/project",
        "/tmp/cc-capture-0ret04ia/interactive/home/project",  # the probe again: its session's directory
        "/tmp/cc-routing-y9jsqj_y/interactive/home/project",
        "/tmp/cc-routing-y9jsqj_y/interactive/home/project",  # the title chore of that session
    ]
