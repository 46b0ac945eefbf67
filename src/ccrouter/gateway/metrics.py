"""`GET /metrics`: the Prometheus series of the running service, fed by the records of finished requests.

`Metrics` is a record sink: each `RequestRecord` adds to the request, token, cost and attempt counters and to the
latency histograms. What is true only now (the budgets' spend, the targets cooling down) is read from the service's
own state when Prometheus scrapes, by a collector of its own, so it is never stale and costs nothing per request.

Every series lives in a private `CollectorRegistry`: several apps in one process (tests) never clash, and nothing
another library puts in the global registry is exposed.

Bounded memory. Providers and models come from the config, but a scenario can be "subagent:<type>" with a type the
client names, and a record that failed early has no provider or model at all (its label is ""). So each label shows
at most `MAX_VALUES_PER_LABEL` distinct values (later ones become "other"), each value at most `MAX_LABEL_CHARS`
characters, and each series family at most `MAX_LABEL_SETS` label sets (later ones all "other"): a client cannot
grow the service's memory, nor the scrape, without bound.

The hot path: a record's labelled children are looked up once per distinct (scenario, provider, model, status) in a
bounded dict, never through `.labels()`, which formats and validates its arguments each time.

Savings: `ccr_savings_usd_total` counts what requests cost less than their baseline, and `ccr_overspend_usd_total`
what requests cost more than it (a counter must never go down, or `rate()` would see a reset), so the ledger's
signed savings are `ccr_savings_usd_total - ccr_overspend_usd_total`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from ccrouter.config.scenarios import Scenario
from ccrouter.gateway.records import Attempt, RequestRecord
from ccrouter.ledger.budgets import BudgetStatus
from ccrouter.untrusted import clip

OTHER = "other"  # the label value standing for every value past a cap
MAX_VALUES_PER_LABEL = 200  # distinct values one label shows
MAX_LABEL_SETS = 2000  # distinct label sets one series family holds
MAX_LABEL_CHARS = 120  # a longer label value is clipped
_MAX_CACHED = 4096  # records' raw label tuples remembered with their children (the hot path's one lookup)

# LLM latencies: a cached short answer in tens of milliseconds, a long generation in minutes.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 180.0, 300.0)
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
# What `generate_latest` writes: the classic text format. (prometheus-client 0.26's CONTENT_TYPE_LATEST says
# version=1.0.0, which it pairs with UTF-8 names only when a scraper's Accept asks for them.)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

CooldownsNow = Callable[[], Iterable[tuple[str, str]]]
BudgetsNow = Callable[[], Iterable[BudgetStatus]]

Child = TypeVar("Child")


class LabelValues:
    """The values one label shows: those in `always`, then the first `limit` other distinct ones (clipped), then
    "other". None shows as ""."""

    def __init__(self, limit: int = MAX_VALUES_PER_LABEL, always: Iterable[str] = ()) -> None:
        self._shown: dict[str, str] = {str(value): str(value) for value in always}
        self._limit = limit + len(self._shown)

    def __call__(self, value: str | None) -> str:
        raw = "" if value is None else value
        shown = self._shown.get(raw)
        if shown is None:
            if len(self._shown) >= self._limit:
                return OTHER
            shown = self._shown[raw] = clip(raw, MAX_LABEL_CHARS)
        return shown


class LabelSets(Generic[Child]):
    """The children of one series family by label set: at most `limit` sets, then the all-"other" one."""

    def __init__(self, make: Callable[[tuple[str, ...]], Child], limit: int = MAX_LABEL_SETS) -> None:
        self._make = make
        self._limit = limit
        self._children: dict[tuple[str, ...], Child] = {}

    def get(self, labels: tuple[str, ...]) -> Child:
        child = self._children.get(labels)
        if child is None:
            if len(self._children) >= self._limit:
                labels = (OTHER,) * len(labels)
                child = self._children.get(labels)
            if child is None:
                child = self._children[labels] = self._make(labels)
        return child


class _Remembered(dict[tuple[Hashable, ...], Child]):
    """Children by the raw values a record carries: `remembered[key]` is one C-level dict lookup per record.
    Bounded: a full cache stops remembering, and the label caps keep working behind it."""

    def __init__(self, find: Callable[..., Child]) -> None:
        super().__init__()
        self._find = find

    def __missing__(self, key: tuple[Hashable, ...]) -> Child:
        child = self._find(*key)
        if len(self) < _MAX_CACHED:
            self[key] = child
        return child


class _TargetSeries:
    """The children of one (provider, model): time to first token, tokens by kind, cost, savings, overspend."""

    __slots__ = ("cost", "overspend", "savings", "tokens", "ttft")

    def __init__(self, families: _Families, labels: tuple[str, ...]) -> None:
        self.ttft = families.ttft.labels(*labels)
        self.tokens = tuple(families.tokens.labels(*labels, kind) for kind in TOKEN_KINDS)
        self.cost = families.cost.labels(*labels)
        self.savings = families.savings.labels(*labels)
        self.overspend = families.overspend.labels(*labels)


class _RequestSeries:
    """The children one record adds to: its request count and duration, and its target's series."""

    __slots__ = ("count", "duration", "target")

    def __init__(self, families: _Families, labels: tuple[str, ...], target: _TargetSeries) -> None:
        self.count = families.requests.labels(*labels)
        self.duration = families.duration.labels(*labels[:3])
        self.target = target


class _Families:
    """The series families a record feeds, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        target = ("provider", "model")
        self.requests = Counter(
            "ccr_requests",
            "Requests finished, by route, serving target and HTTP status.",
            ("scenario", *target, "status"),
            registry=registry,
        )
        self.duration = Histogram(
            "ccr_request_duration_seconds",
            "Time from a request's arrival to its last byte, in seconds.",
            ("scenario", *target),
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.ttft = Histogram(
            "ccr_time_to_first_token_seconds",
            "Time from a request's arrival to the first bytes of its stream, in seconds.",
            target,
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.tokens = Counter(
            "ccr_tokens",
            "Tokens the providers reported, by kind (input, output, cache_read, cache_write).",
            (*target, "kind"),
            registry=registry,
        )
        self.cost = Counter("ccr_cost_usd", "What the served requests cost, in US dollars.", target, registry=registry)
        self.savings = Counter(
            "ccr_savings_usd",
            "What requests cost less than their baseline (the Claude model asked for), in USD.",
            target,
            registry=registry,
        )
        self.overspend = Counter(
            "ccr_overspend_usd",
            "What requests cost more than their baseline, in USD (savings minus this: signed savings).",
            target,
            registry=registry,
        )
        self.attempts = Counter(
            "ccr_upstream_attempts",
            "Tries of each target: the HTTP status it answered, or cooling (skipped).",
            (*target, "outcome"),
            registry=registry,
        )


class _LiveState:
    """The gauges read when Prometheus scrapes: each budget's spend this period, each target cooling down."""

    def __init__(self, cooldowns_now: CooldownsNow, budgets_now: BudgetsNow) -> None:
        self._cooldowns_now = cooldowns_now
        self._budgets_now = budgets_now

    def describe(self) -> list[Metric]:
        """The names this collector owns (the registry checks them for clashes without calling `collect`)."""
        return [_budget_family(), _cooldown_family()]

    def collect(self) -> list[Metric]:
        budgets = _budget_family()
        for status in self._budgets_now():
            budgets.add_metric([status.name], status.spent_usd)
        cooling = _cooldown_family()
        for (provider, model), count in _counted(self._cooldowns_now()).items():
            cooling.add_metric([provider, model], count)
        return [budgets, cooling]


def _budget_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "ccr_budget_spent_usd", "What each budget has spent in its current period, in USD.", labels=["budget"]
    )


def _cooldown_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "ccr_cooldown_active",
        "1 for each target cooling down now (skipped by every route).",
        labels=["provider", "model"],
    )


def _counted(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """How often each pair occurs (one series per pair, even if the same target were reported twice)."""
    counts: dict[tuple[str, str], int] = {}
    for pair in pairs:
        counts[pair] = counts.get(pair, 0) + 1
    return counts


class Metrics:
    """The record sink behind `GET /metrics`: `metrics(record)` per finished request, `render()` per scrape."""

    def __init__(self, cooldowns_now: CooldownsNow, budgets_now: BudgetsNow) -> None:
        self.registry = CollectorRegistry()
        self._families = _Families(self.registry)
        self.registry.register(_LiveState(cooldowns_now, budgets_now))
        # The fixed scenarios keep their names however many "subagent:<type>" spellings a client sends first.
        self._scenarios = LabelValues(always=Scenario)
        self._providers, self._models = LabelValues(), LabelValues()
        self._statuses, self._outcomes = LabelValues(), LabelValues()
        self._target_sets = LabelSets(lambda labels: _TargetSeries(self._families, labels))
        self._request_sets = LabelSets(self._new_request_series)
        self._attempt_sets = LabelSets(lambda labels: self._families.attempts.labels(*labels))
        self._by_record = _Remembered(self._request_series)
        self._by_attempt = _Remembered(self._attempt_counter)

    def __call__(self, record: RequestRecord) -> None:
        series = self._by_record[record.scenario, record.provider, record.model, record.status]
        series.count.inc()
        series.duration.observe(record.latency_ms / 1000)
        target = series.target
        if record.ttft_ms is not None:
            target.ttft.observe(record.ttft_ms / 1000)
        _count_tokens(target, record)
        _count_cost(target, record.cost_usd, record.baseline_cost_usd)
        for attempt in record.attempts:
            self._count_attempt(attempt)

    def render(self) -> tuple[bytes, str]:
        """The exposition text of every series, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE

    def _count_attempt(self, attempt: Attempt) -> None:
        target = attempt.target
        self._by_attempt[target.provider.name, target.model, attempt.status].inc()

    def _request_series(
        self, scenario: str | None, provider: str | None, model: str | None, status: int
    ) -> _RequestSeries:
        labels = (
            self._scenarios(scenario),
            self._providers(provider),
            self._models(model),
            self._statuses(str(status)),
        )
        return self._request_sets.get(labels)

    def _new_request_series(self, labels: tuple[str, ...]) -> _RequestSeries:
        return _RequestSeries(self._families, labels, self._target_sets.get(labels[1:3]))

    def _attempt_counter(self, provider: str, model: str, status: int) -> Counter:
        outcome = "cooling" if status == 0 else str(status)  # as `Attempt.outcome`
        return self._attempt_sets.get((self._providers(provider), self._models(model), self._outcomes(outcome)))


def _count_tokens(target: _TargetSeries, record: RequestRecord) -> None:
    amounts = (
        record.input_tokens,
        record.output_tokens,
        record.cache_read_input_tokens,
        record.cache_creation_input_tokens,
    )
    for counter, amount in zip(target.tokens, amounts, strict=True):
        if amount > 0:
            counter.inc(amount)


def _count_cost(target: _TargetSeries, cost: float | None, baseline: float | None) -> None:
    """Cost when priced; savings (or overspend) when the baseline is priced too. NaN and negatives add nothing."""
    if cost is None:
        return
    if cost > 0:
        target.cost.inc(cost)
    if baseline is None:
        return
    saved = baseline - cost
    if saved > 0:
        target.savings.inc(saved)
    elif saved < 0:
        target.overspend.inc(-saved)
