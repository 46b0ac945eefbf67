"""`/metrics` per user (team mode), against the real service: with `Users`, each user's requests by status, the
tokens the provider reported for them and their cost (the APIKEY's requests as "admin"); without `Users`, no
`ccr_user_*` sample at all, until a hot reload adds them. And the sink itself: a record without a user costs one
attribute check; one with a user a handful of plain calls and no lock; user names past the cap show as "other"."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ccrouter.config.users_section import key_digest
from ccrouter.gateway.metrics import MAX_VALUES_PER_LABEL, OTHER, TOKEN_KINDS
from ccrouter.gateway.records import RequestRecord
from ccrouter.gateway.user_metrics import UserMetrics
from tests.ledger.test_service_ledger import PRICE, anthropic_provider
from tests.support.call_count import calls_made
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, json_reply
from tests.support.router_process import RouterProcess
from tests.support.router_setup import LOOPBACK, StartRouter

APIKEY = "admin-key-0123456789abcdef"
KEYS = {"ana": "ccr_ana-0123456789", "bo": "ccr_bo-0123456789"}
# What the provider reports, chosen by the prompt's text (the test's way to tell the users' requests apart).
USAGES = {
    "from ana": {"input_tokens": 1000, "output_tokens": 500, "cache_read_input_tokens": 2000,
                 "cache_creation_input_tokens": 300},
    "from bo": {"input_tokens": 70, "output_tokens": 11, "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 40},
    "from admin": {"input_tokens": 5, "output_tokens": 3, "cache_read_input_tokens": 9,
                   "cache_creation_input_tokens": 0},
}  # fmt: skip
USAGE_KINDS = dict(
    zip(
        TOKEN_KINDS,
        ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"),
        strict=True,
    )
)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def reply_with_usage(received: Received) -> Scripted:
    text = received.body["messages"][0]["content"]
    return json_reply(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [{"type": "text", "text": "ok"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": USAGES[text],
        }
    )


def base_config(upstream: ScriptedUpstream) -> dict[str, Any]:
    return {
        "APIKEY": APIKEY,
        "Providers": [anthropic_provider(upstream)],
        "Router": {"default": "prov,m", "think": "prov,m"},
        "Prices": {"prov,m": PRICE},
    }


def users() -> list[dict[str, Any]]:
    return [
        {"name": "ana", "key_sha256": key_digest(KEYS["ana"])},
        {"name": "bo", "key_sha256": key_digest(KEYS["bo"]), "routes": ["default"]},
    ]


def post(router: RouterProcess, key: str, text: str, model: str = "claude-sonnet-4-5") -> int:
    body = {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": text}]}
    return LOOPBACK.post(router.url + "/v1/messages", json=body, headers={"x-api-key": key}, timeout=30).status_code


def scrape(router: RouterProcess) -> Samples:
    answer = LOOPBACK.get(router.url + "/metrics", headers={"x-api-key": APIKEY}, timeout=10)
    assert answer.status_code == 200, answer.text
    return parsed(answer.text)


def parsed(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str) -> float:
    return sum(value for (sample_name, _), value in samples.items() if sample_name == name)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def scraped_once(router: RouterProcess, condition: Callable[[Samples], bool], timeout: float = 15.0) -> Samples:
    """A scrape for which `condition` holds (the requests' records have all reached the sinks)."""
    deadline = time.monotonic() + timeout
    samples = scrape(router)
    while not condition(samples) and time.monotonic() < deadline:
        time.sleep(0.05)
        samples = scrape(router)
    return samples


def cost_of(usage: dict[str, int]) -> float:
    return sum(PRICE[kind] * usage[field] for kind, field in USAGE_KINDS.items()) / 1e6


@pytest.mark.process
def test_each_users_requests_tokens_and_cost_are_counted_and_the_apikey_is_admin(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    upstream.default = reply_with_usage
    router = start_router({**base_config(upstream), "Users": users()})
    assert [post(router, KEYS["ana"], "from ana") for _ in range(2)] == [200, 200]
    assert post(router, KEYS["bo"], "from bo") == 200
    assert post(router, KEYS["bo"], "from bo", "claude-ccr/route/think") == 403  # not one of bo's routes
    assert post(router, APIKEY, "from admin") == 200

    samples = scraped_once(router, lambda s: total(s, "ccr_user_requests_total") >= 5)
    requests = {labels: count for (name, labels), count in samples.items() if name == "ccr_user_requests_total"}
    assert requests == {
        frozenset({("user", "ana"), ("status", "200")}): 2,
        frozenset({("user", "bo"), ("status", "200")}): 1,
        frozenset({("user", "bo"), ("status", "403")}): 1,
        frozenset({("user", "admin"), ("status", "200")}): 1,
    }
    for user, copies in (("ana", 2), ("bo", 1), ("admin", 1)):
        usage = USAGES[f"from {user}"]
        for kind, field in USAGE_KINDS.items():
            assert value(samples, "ccr_user_tokens_total", user=user, kind=kind) == copies * usage[field], (user, kind)
        assert value(samples, "ccr_user_cost_usd_total", user=user) == pytest.approx(copies * cost_of(usage))
    assert total(samples, "ccr_requests_total") == 5  # the router-wide series still count every request


@pytest.mark.process
def test_without_users_no_user_series_appear_until_a_reload_adds_users(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    upstream.default = reply_with_usage
    router = start_router(base_config(upstream))
    assert [post(router, APIKEY, "from admin") for _ in range(2)] == [200, 200]
    samples = scraped_once(router, lambda s: total(s, "ccr_requests_total") >= 2)
    assert total(samples, "ccr_requests_total") == 2
    assert [name for name, _ in samples if name.startswith("ccr_user_")] == []

    reloads = sum(record.get("msg") == "config reloaded" for record in router.log_records())
    router.write_config({**base_config(upstream), "Users": users()})
    deadline = time.monotonic() + 15
    while sum(r.get("msg") == "config reloaded" for r in router.log_records()) == reloads:
        assert time.monotonic() < deadline, router.log_records()
        time.sleep(0.05)
    assert post(router, KEYS["ana"], "from ana") == 200
    samples = scraped_once(router, lambda s: total(s, "ccr_user_requests_total") >= 1)
    assert value(samples, "ccr_user_requests_total", user="ana", status="200") == 1
    assert value(samples, "ccr_user_tokens_total", user="ana", kind="input") == 1000


# ---------------------------------------------------------------------------------------------------------------
# The sink in this process: its cost per request, and its bounds


def record(user: str | None, status: int = 200, **fields: Any) -> RequestRecord:
    return RequestRecord(request_id="req", started_at=0.0, user=user, status=status, **fields)


def profiled_calls(sink: UserMetrics, made: RequestRecord) -> list[str]:
    """The Python and C calls one `sink(made)` makes (itself included), counted without a clock."""
    return calls_made(sink, made)


def test_a_record_without_a_user_costs_the_call_and_one_attribute_check() -> None:
    registry = CollectorRegistry()
    sink = UserMetrics(registry)
    calls = profiled_calls(sink, record(None, input_tokens=10, cost_usd=1.0))
    assert calls == ["__call__", "setprofile"]  # the sink's own frame, then the profiler switched off: nothing else
    assert not [name for name in parsed(generate_latest(registry).decode()) if name[0].startswith("ccr_user_")]


def test_a_record_with_a_user_is_a_handful_of_plain_calls_and_takes_no_lock() -> None:
    registry = CollectorRegistry()
    sink = UserMetrics(registry)
    typical = record("ana", input_tokens=1500, output_tokens=300, cache_read_input_tokens=20_000, cost_usd=0.0125)
    sink(typical)  # the first record of a (user, status) makes its series; later ones only add
    calls = profiled_calls(sink, typical)
    assert "__exit__" not in calls and "acquire" not in calls, calls
    assert len(calls) <= 5, calls
    samples = parsed(generate_latest(registry).decode())
    assert value(samples, "ccr_user_requests_total", user="ana", status="200") == 2
    assert value(samples, "ccr_user_tokens_total", user="ana", kind="cache_read") == 40_000
    assert value(samples, "ccr_user_cost_usd_total", user="ana") == pytest.approx(0.025)


def test_user_names_past_the_cap_are_counted_as_other_and_nan_or_negative_amounts_add_nothing() -> None:
    registry = CollectorRegistry()
    sink = UserMetrics(registry)
    for number in range(MAX_VALUES_PER_LABEL + 5):
        sink(record(f"user{number}", input_tokens=1))
    sink(record("user0", cost_usd=float("nan")))
    sink(record("user0", cost_usd=-1.0, output_tokens=-5))
    samples = parsed(generate_latest(registry).decode())
    assert value(samples, "ccr_user_requests_total", user=OTHER, status="200") == 5
    assert value(samples, "ccr_user_tokens_total", user=OTHER, kind="input") == 5
    assert value(samples, "ccr_user_requests_total", user="user0", status="200") == 3
    assert value(samples, "ccr_user_cost_usd_total", user="user0") == 0
    assert value(samples, "ccr_user_tokens_total", user="user0", kind="output") == 0
    users = {dict(labels)["user"] for name, labels in samples if name == "ccr_user_cost_usd_total"}
    assert len(users) == MAX_VALUES_PER_LABEL + 1  # the first 200 names and "other"
