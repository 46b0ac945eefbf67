"""`Metrics`, the record sink behind `GET /metrics`: what it exposes, parsed back with prometheus_client's parser.

Records are built by hand, so every expected value is a hand sum of the records fed in.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ccrouter.config.model import Provider, Target
from ccrouter.config.scenarios import Scenario
from ccrouter.gateway.metrics import MAX_LABEL_CHARS, MAX_VALUES_PER_LABEL, OTHER, LabelSets, LabelValues, Metrics
from ccrouter.gateway.records import Attempt, RequestRecord
from ccrouter.ledger.budgets import BudgetStatus
from tests.support.call_count import calls_made

DEEPSEEK = Provider("deepseek", "http://127.0.0.1:9/v1", None, ("deepseek-chat", "deepseek-reasoner"))
OLLAMA = Provider("ollama", "http://127.0.0.1:9/v1", None, ("qwen",))

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def record(
    provider: Provider | None = DEEPSEEK,
    model: str | None = "deepseek-chat",
    *,
    scenario: str | None = "default",
    status: int = 200,
    **fields: Any,
) -> RequestRecord:
    made = RequestRecord(request_id="req", started_at=0.0, scenario=scenario, status=status, **fields)
    if provider is not None and model is not None:
        made.served_by(Target(provider, model))
    else:
        made.model = model
    return made


def scrape(metrics: Metrics) -> Samples:
    """Every sample of the exposition, by (name, labels)."""
    body, content_type = metrics.render()
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (sample_name, labels), v in samples.items() if sample_name == name}


def no_live_state() -> Metrics:
    return Metrics(cooldowns_now=list, budgets_now=list)


def test_requests_are_counted_by_scenario_target_and_status() -> None:
    metrics = no_live_state()
    for made in (
        record(),
        record(),
        record(status=502),
        record(OLLAMA, "qwen", scenario="background"),
        record(scenario="subagent:explore"),
    ):
        metrics(made)
    samples = scrape(metrics)
    requests = series(samples, "ccr_requests_total")
    target = {"provider": "deepseek", "model": "deepseek-chat"}
    assert value(samples, "ccr_requests_total", scenario="default", status="200", **target) == 2
    assert value(samples, "ccr_requests_total", scenario="default", status="502", **target) == 1
    assert value(samples, "ccr_requests_total", scenario="subagent:explore", status="200", **target) == 1
    assert (
        value(samples, "ccr_requests_total", scenario="background", provider="ollama", model="qwen", status="200") == 1
    )
    assert sum(requests.values()) == 5 and len(requests) == 4


def test_a_request_that_never_reached_a_provider_has_empty_labels() -> None:
    metrics = no_live_state()
    metrics(record(None, None, scenario=None, status=401))
    samples = scrape(metrics)
    assert value(samples, "ccr_requests_total", scenario="", provider="", model="", status="401") == 1


def test_token_counts_are_the_sums_the_providers_reported_by_kind() -> None:
    metrics = no_live_state()
    usages = [(100, 20, 1000, 50), (7, 3, 0, 0), (1, 1, 1, 1)]
    for given, output, read, written in usages:
        metrics(
            record(
                input_tokens=given,
                output_tokens=output,
                cache_read_input_tokens=read,
                cache_creation_input_tokens=written,
            )
        )
    metrics(record(OLLAMA, "qwen", input_tokens=5, output_tokens=6))
    samples = scrape(metrics)
    target = {"provider": "deepseek", "model": "deepseek-chat"}
    for position, kind in enumerate(("input", "output", "cache_read", "cache_write")):
        expected = sum(usage[position] for usage in usages)
        assert value(samples, "ccr_tokens_total", kind=kind, **target) == expected
    assert value(samples, "ccr_tokens_total", provider="ollama", model="qwen", kind="input") == 5
    assert value(samples, "ccr_tokens_total", provider="ollama", model="qwen", kind="output") == 6


def test_cost_and_savings_are_summed_and_an_overspend_keeps_the_counters_rising() -> None:
    metrics = no_live_state()
    metrics(record(cost_usd=0.25, baseline_cost_usd=1.0))  # saved 0.75
    metrics(record(cost_usd=0.5, baseline_cost_usd=0.625))  # saved 0.125
    metrics(record(cost_usd=1.0, baseline_cost_usd=0.75))  # cost 0.25 more than the baseline
    metrics(record(cost_usd=0.125, baseline_cost_usd=None))  # baseline unpriced: cost only
    metrics(record(cost_usd=None, baseline_cost_usd=3.0))  # target unpriced: neither
    samples = scrape(metrics)
    target = {"provider": "deepseek", "model": "deepseek-chat"}
    assert value(samples, "ccr_cost_usd_total", **target) == pytest.approx(0.25 + 0.5 + 1.0 + 0.125)
    assert value(samples, "ccr_savings_usd_total", **target) == pytest.approx(0.75 + 0.125)
    assert value(samples, "ccr_overspend_usd_total", **target) == pytest.approx(0.25)
    signed = value(samples, "ccr_savings_usd_total", **target) - value(samples, "ccr_overspend_usd_total", **target)
    assert signed == pytest.approx((1.0 - 0.25) + (0.625 - 0.5) + (0.75 - 1.0))


def test_duration_histogram_counts_every_record_and_sums_its_seconds() -> None:
    metrics = no_live_state()
    latencies_ms = [40.0, 80.0, 1500.0, 400_000.0]  # the last beyond the largest bucket
    for latency in latencies_ms:
        metrics(record(latency_ms=latency))
    samples = scrape(metrics)
    labels = {"scenario": "default", "provider": "deepseek", "model": "deepseek-chat"}
    assert value(samples, "ccr_request_duration_seconds_count", **labels) == 4
    assert value(samples, "ccr_request_duration_seconds_sum", **labels) == pytest.approx(sum(latencies_ms) / 1000)
    assert value(samples, "ccr_request_duration_seconds_bucket", le="0.05", **labels) == 1
    assert value(samples, "ccr_request_duration_seconds_bucket", le="0.1", **labels) == 2
    assert value(samples, "ccr_request_duration_seconds_bucket", le="2.5", **labels) == 3
    assert value(samples, "ccr_request_duration_seconds_bucket", le="300.0", **labels) == 3
    assert value(samples, "ccr_request_duration_seconds_bucket", le="+Inf", **labels) == 4


def test_time_to_first_token_counts_only_records_that_streamed_a_first_token() -> None:
    metrics = no_live_state()
    metrics(record(stream=True, ttft_ms=250.0))
    metrics(record(stream=True, ttft_ms=1250.0))
    metrics(record(stream=False, ttft_ms=None))
    samples = scrape(metrics)
    target = {"provider": "deepseek", "model": "deepseek-chat"}
    assert value(samples, "ccr_time_to_first_token_seconds_count", **target) == 2
    assert value(samples, "ccr_time_to_first_token_seconds_sum", **target) == pytest.approx(1.5)
    assert value(samples, "ccr_time_to_first_token_seconds_bucket", le="0.25", **target) == 1
    assert value(samples, "ccr_request_duration_seconds_count", scenario="default", **target) == 3


def test_upstream_attempts_are_counted_by_target_and_outcome() -> None:
    chat, reasoner, qwen = (
        Target(DEEPSEEK, "deepseek-chat"),
        Target(DEEPSEEK, "deepseek-reasoner"),
        Target(OLLAMA, "qwen"),
    )
    metrics = no_live_state()
    metrics(record(OLLAMA, "qwen", attempts=[Attempt(chat, 0), Attempt(reasoner, 502), Attempt(qwen, 200)]))
    metrics(record(attempts=[Attempt(chat, 429), Attempt(chat, 200)]))
    metrics(record(attempts=[Attempt(chat, 200)]))
    samples = scrape(metrics)
    attempts = series(samples, "ccr_upstream_attempts_total")
    assert attempts == {
        frozenset({"provider": "deepseek", "model": "deepseek-chat", "outcome": "cooling"}.items()): 1,
        frozenset({"provider": "deepseek", "model": "deepseek-chat", "outcome": "429"}.items()): 1,
        frozenset({"provider": "deepseek", "model": "deepseek-chat", "outcome": "200"}.items()): 2,
        frozenset({"provider": "deepseek", "model": "deepseek-reasoner", "outcome": "502"}.items()): 1,
        frozenset({"provider": "ollama", "model": "qwen", "outcome": "200"}.items()): 1,
    }


def test_budgets_and_cooldowns_are_read_when_scraped() -> None:
    cooling: list[tuple[str, str]] = [("deepseek", "deepseek-chat")]
    budgets = [BudgetStatus("daily", "all", "day", 5.0, 1.25, 0.8, "ok", 0.0)]
    metrics = Metrics(cooldowns_now=lambda: cooling, budgets_now=lambda: budgets)
    samples = scrape(metrics)
    assert series(samples, "ccr_cooldown_active") == {
        frozenset({"provider": "deepseek", "model": "deepseek-chat"}.items()): 1
    }
    assert series(samples, "ccr_budget_spent_usd") == {frozenset({"budget": "daily"}.items()): 1.25}

    cooling[:] = [("ollama", "qwen"), ("deepseek", "deepseek-reasoner")]
    budgets.append(BudgetStatus("monthly", "deepseek", "month", 50.0, 4.5, 0.8, "ok", 0.0))
    samples = scrape(metrics)
    assert series(samples, "ccr_cooldown_active") == {
        frozenset({"provider": "ollama", "model": "qwen"}.items()): 1,
        frozenset({"provider": "deepseek", "model": "deepseek-reasoner"}.items()): 1,
    }
    assert series(samples, "ccr_budget_spent_usd") == {
        frozenset({"budget": "daily"}.items()): 1.25,
        frozenset({"budget": "monthly"}.items()): 4.5,
    }

    cooling.clear()
    assert series(scrape(metrics), "ccr_cooldown_active") == {}


def test_client_named_scenarios_past_the_cap_are_counted_as_other() -> None:
    metrics = no_live_state()
    distinct = 3 * MAX_VALUES_PER_LABEL
    for n in range(distinct):
        metrics(record(scenario=f"subagent:type-{n}"))
    for scenario in Scenario:  # routed after a client filled the cap: still shown by name
        metrics(record(scenario=scenario))
    requests = series(scrape(metrics), "ccr_requests_total")
    scenarios = {dict(labels)["scenario"]: count for labels, count in requests.items()}
    assert len(scenarios) == MAX_VALUES_PER_LABEL + 1 + len(Scenario)
    assert scenarios[OTHER] == distinct - MAX_VALUES_PER_LABEL
    assert all(scenarios[scenario] == 1 for scenario in Scenario)
    assert sum(scenarios.values()) == distinct + len(Scenario)  # nothing lost, only grouped


def test_a_long_label_value_is_clipped() -> None:
    metrics = no_live_state()
    metrics(record(scenario="subagent:" + "x" * 100_000))
    (labels,) = series(scrape(metrics), "ccr_requests_total")
    assert MAX_LABEL_CHARS < len(dict(labels)["scenario"]) < MAX_LABEL_CHARS + 60


def test_the_exposition_stays_bounded_however_many_scenarios_a_client_invents() -> None:
    metrics = no_live_state()
    for n in range(10 * MAX_VALUES_PER_LABEL):
        metrics(record(scenario=f"subagent:{n}", status=200 + n % 3))
    series_then = set(scrape(metrics))
    for n in range(10 * MAX_VALUES_PER_LABEL, 40 * MAX_VALUES_PER_LABEL):
        metrics(record(scenario=f"subagent:{n}", status=200 + n % 3))
    assert set(scrape(metrics)) == series_then  # new values only add to the "other" series


def test_label_sets_past_their_cap_share_the_all_other_set() -> None:
    made: list[tuple[str, ...]] = []

    def make(labels: tuple[str, ...]) -> int:
        made.append(labels)
        return len(made)

    sets = LabelSets(make, limit=2)
    assert sets.get(("a", "b")) == 1 and sets.get(("c", "d")) == 2
    assert sets.get(("e", "f")) == 3 and sets.get(("g", "h")) == 3
    assert sets.get(("a", "b")) == 1
    assert made == [("a", "b"), ("c", "d"), (OTHER, OTHER)]


def test_label_values_show_none_as_empty_and_stop_at_their_cap() -> None:
    values = LabelValues(limit=2, always=("fixed",))
    assert values(None) == "" and values("a") == "a" and values("b") == OTHER and values("a") == "a"
    assert values("fixed") == "fixed"


def test_two_sinks_in_one_process_keep_their_own_series() -> None:
    first, second = no_live_state(), no_live_state()
    first(record(input_tokens=10))
    first(record(input_tokens=10))
    second(record(input_tokens=3))
    target = {"provider": "deepseek", "model": "deepseek-chat"}
    assert value(scrape(first), "ccr_tokens_total", kind="input", **target) == 20
    assert value(scrape(second), "ccr_tokens_total", kind="input", **target) == 3


def test_an_unpriced_or_unserved_record_adds_no_cost_series_values() -> None:
    metrics = no_live_state()
    metrics(record(cost_usd=None, baseline_cost_usd=None))
    metrics(record(cost_usd=math.nan, baseline_cost_usd=1.0))
    samples = scrape(metrics)
    target = {"provider": "deepseek", "model": "deepseek-chat"}
    assert value(samples, "ccr_cost_usd_total", **target) == 0
    assert value(samples, "ccr_savings_usd_total", **target) == 0
    assert value(samples, "ccr_overspend_usd_total", **target) == 0


def test_an_observation_on_a_bucket_bound_counts_in_that_bucket() -> None:
    metrics = no_live_state()
    for latency_ms in (50.0, 100.0, 300_000.0, 300_001.0):  # on 0.05, on 0.1, on the largest bound, past it
        metrics(record(latency_ms=latency_ms))
    samples = scrape(metrics)
    labels = {"scenario": "default", "provider": "deepseek", "model": "deepseek-chat"}
    assert value(samples, "ccr_request_duration_seconds_bucket", le="0.05", **labels) == 1
    assert value(samples, "ccr_request_duration_seconds_bucket", le="0.1", **labels) == 2
    assert value(samples, "ccr_request_duration_seconds_bucket", le="180.0", **labels) == 2
    assert value(samples, "ccr_request_duration_seconds_bucket", le="300.0", **labels) == 3
    assert value(samples, "ccr_request_duration_seconds_bucket", le="+Inf", **labels) == 4


def test_every_family_keeps_its_name_type_and_labels() -> None:
    metrics = no_live_state()
    metrics(record(stream=True, ttft_ms=5.0, attempts=[Attempt(Target(DEEPSEEK, "deepseek-chat"), 200)]))
    body, _ = metrics.render()
    shapes = {
        family.name: (family.type, {frozenset(sample.labels) - {"le"} for sample in family.samples})
        for family in text_string_to_metric_families(body.decode())
        if not family.name.endswith("_created")
    }
    target = {"provider", "model"}
    assert shapes == {
        "ccr_requests": ("counter", {frozenset({"scenario", "status", *target})}),
        "ccr_request_duration_seconds": ("histogram", {frozenset({"scenario", *target})}),
        "ccr_time_to_first_token_seconds": ("histogram", {frozenset(target)}),
        "ccr_tokens": ("counter", {frozenset({"kind", *target})}),
        "ccr_cost_usd": ("counter", {frozenset(target)}),
        "ccr_savings_usd": ("counter", {frozenset(target)}),
        "ccr_overspend_usd": ("counter", {frozenset(target)}),
        "ccr_upstream_attempts": ("counter", {frozenset({"outcome", *target})}),
        "ccr_budget_spent_usd": ("gauge", set()),
        "ccr_cooldown_active": ("gauge", set()),
    }


def test_recording_a_record_is_a_handful_of_plain_calls_and_takes_no_lock() -> None:
    """The per-request cost, counted without a clock: prometheus-client's Counter.inc / Histogram.observe each
    take a lock and check the metric, which made about 50 calls per record; plain counters make under a dozen."""
    chat = Target(DEEPSEEK, "deepseek-chat")
    typical = record(
        stream=True,
        latency_ms=1234.0,
        ttft_ms=321.0,
        input_tokens=1500,
        output_tokens=300,
        cache_read_input_tokens=20_000,
        cost_usd=0.0125,
        baseline_cost_usd=0.09,
        attempts=[Attempt(chat, 200)],
    )
    metrics = no_live_state()
    metrics(typical)  # the first record of a label set makes its series; later ones only add
    calls = calls_made(metrics, typical)
    assert "__exit__" not in calls and "acquire" not in calls, calls
    assert len(calls) <= 12, calls
    samples = scrape(metrics)
    assert value(samples, "ccr_requests_total", scenario="default", status="200", **chat_labels()) == 2
    assert value(samples, "ccr_tokens_total", kind="cache_read", **chat_labels()) == 40_000


def chat_labels() -> dict[str, str]:
    return {"provider": "deepseek", "model": "deepseek-chat"}
