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

The hot path: a record adds to plain Python numbers (counters, and per histogram a count per bucket and a sum), found
by one lookup per distinct (scenario, provider, model, status) in a bounded dict. prometheus-client's Counter and
Histogram took a lock and checked the metric on each of a record's ~9 updates, about 10% of small-request throughput;
the event loop is the only writer here, so no lock is needed. A collector of our own turns the numbers into metric
families at scrape time (the same text; only the optional `_created` series are gone).

Savings: `ccr_savings_usd_total` counts what requests cost less than their baseline, and `ccr_overspend_usd_total`
what requests cost more than it (a counter must never go down, or `rate()` would see a reset), so the ledger's
signed savings are `ccr_savings_usd_total - ccr_overspend_usd_total`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable
from itertools import accumulate
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

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
# The `le` labels as Histogram writes them (its `floatToGoString` is `repr` for bounds under a million).
_LE = (*(repr(float(bound)) for bound in LATENCY_BUCKETS), "+Inf")
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

    def items(self) -> list[tuple[tuple[str, ...], Child]]:
        """Every label set with its child, in the order they were made (a copy: safe to iterate while recording)."""
        return list(self._children.items())


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


class _Histogram:
    """One latency histogram's state: a count per bucket (the last one +Inf, not cumulative) and the sum."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        # The first bound >= seconds: Prometheus's `le` (a value on a bound counts in that bound's bucket).
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        """The `_bucket` samples: (le, how many observations were at most le)."""
        return list(zip(_LE, accumulate(self.counts), strict=True))


class _Tally:
    """One counter's value, added to in place."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0


class _TargetSeries:
    """What one (provider, model) served: time to first token, tokens by kind, cost, savings, overspend."""

    __slots__ = ("cost", "overspend", "savings", "tokens", "ttft")

    def __init__(self) -> None:
        self.ttft = _Histogram()
        self.tokens = [0.0] * len(TOKEN_KINDS)
        self.cost = self.savings = self.overspend = 0.0

    def add_cost(self, cost: float | None, baseline: float | None) -> None:
        """Cost when priced; savings (or overspend) when the baseline is priced too. NaN and negatives add nothing."""
        if cost is None:
            return
        if cost > 0:
            self.cost += cost
        if baseline is None:
            return
        saved = baseline - cost
        if saved > 0:
            self.savings += saved
        elif saved < 0:
            self.overspend -= saved


def add_tokens(tokens: list[float], record: RequestRecord) -> None:
    """Add `record`'s tokens to `tokens` (by kind, in TOKEN_KINDS' order); a negative amount adds nothing."""
    amounts = (
        record.input_tokens,
        record.output_tokens,
        record.cache_read_input_tokens,
        record.cache_creation_input_tokens,
    )
    for kind, amount in enumerate(amounts):
        if amount > 0:
            tokens[kind] += amount


class _RequestSeries:
    """What one record adds to: its request count, its duration histogram, and its target's series."""

    __slots__ = ("count", "duration", "target")

    def __init__(self, duration: _Histogram, target: _TargetSeries) -> None:
        self.count = 0.0
        self.duration = duration
        self.target = target


class _Recorded:
    """The collector of the series records feed: it turns the plain state into metric families at scrape time."""

    def __init__(self) -> None:
        self.requests: LabelSets[_RequestSeries] = LabelSets(self._new_request_series)
        self.durations: dict[tuple[str, ...], _Histogram] = {}  # bounded by `requests`, whose labels key it
        self.targets: LabelSets[_TargetSeries] = LabelSets(lambda labels: _TargetSeries())
        self.attempts: LabelSets[_Tally] = LabelSets(lambda labels: _Tally())

    def describe(self) -> list[Metric]:
        """The names this collector owns (the registry checks them for clashes without calling `collect`)."""
        return list(_RecordFamilies().all())

    def collect(self) -> list[Metric]:
        families = _RecordFamilies()
        for labels, series in self.requests.items():
            families.requests.add_metric(labels, series.count)
        for labels, histogram in list(self.durations.items()):
            families.duration.add_metric(labels, histogram.cumulative(), histogram.sum)
        for labels, target in self.targets.items():
            families.add_target(labels, target)
        for labels, tally in self.attempts.items():
            families.attempts.add_metric(labels, tally.value)
        return list(families.all())

    def _new_request_series(self, labels: tuple[str, ...]) -> _RequestSeries:
        duration = self.durations.get(labels[:3])
        if duration is None:
            duration = self.durations[labels[:3]] = _Histogram()
        return _RequestSeries(duration, self.targets.get(labels[1:3]))


class _RecordFamilies:
    """One scrape's families of the recorded series, in the order they are exposed."""

    def __init__(self) -> None:
        target = ("provider", "model")
        self.requests = CounterMetricFamily(
            "ccr_requests",
            "Requests finished, by route, serving target and HTTP status.",
            labels=("scenario", *target, "status"),
        )
        self.duration = HistogramMetricFamily(
            "ccr_request_duration_seconds",
            "Time from a request's arrival to its last byte, in seconds.",
            labels=("scenario", *target),
        )
        self.ttft = HistogramMetricFamily(
            "ccr_time_to_first_token_seconds",
            "Time from a request's arrival to the first bytes of its stream, in seconds.",
            labels=target,
        )
        self.tokens = CounterMetricFamily(
            "ccr_tokens",
            "Tokens the providers reported, by kind (input, output, cache_read, cache_write).",
            labels=(*target, "kind"),
        )
        self.cost = CounterMetricFamily("ccr_cost_usd", "What the served requests cost, in US dollars.", labels=target)
        self.savings = CounterMetricFamily(
            "ccr_savings_usd",
            "What requests cost less than their baseline (the Claude model asked for), in USD.",
            labels=target,
        )
        self.overspend = CounterMetricFamily(
            "ccr_overspend_usd",
            "What requests cost more than their baseline, in USD (savings minus this: signed savings).",
            labels=target,
        )
        self.attempts = CounterMetricFamily(
            "ccr_upstream_attempts",
            "Tries of each target: the HTTP status it answered, or cooling (skipped).",
            labels=(*target, "outcome"),
        )

    def add_target(self, labels: tuple[str, ...], target: _TargetSeries) -> None:
        self.ttft.add_metric(labels, target.ttft.cumulative(), target.ttft.sum)
        for kind, amount in zip(TOKEN_KINDS, target.tokens, strict=True):
            self.tokens.add_metric((*labels, kind), amount)
        self.cost.add_metric(labels, target.cost)
        self.savings.add_metric(labels, target.savings)
        self.overspend.add_metric(labels, target.overspend)

    def all(self) -> tuple[Metric, ...]:
        return (
            self.requests,
            self.duration,
            self.ttft,
            self.tokens,
            self.cost,
            self.savings,
            self.overspend,
            self.attempts,
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
        self._recorded = _Recorded()
        self.registry.register(self._recorded)
        self.registry.register(_LiveState(cooldowns_now, budgets_now))
        # The fixed scenarios keep their names however many "subagent:<type>" spellings a client sends first.
        self._scenarios = LabelValues(always=Scenario)
        self._providers, self._models = LabelValues(), LabelValues()
        self._statuses, self._outcomes = LabelValues(), LabelValues()
        self._by_record = _Remembered(self._request_series)
        self._by_attempt = _Remembered(self._attempt_tally)

    def __call__(self, record: RequestRecord) -> None:
        series = self._by_record[record.scenario, record.provider, record.model, record.status]
        series.count += 1
        series.duration.observe(record.latency_ms / 1000)
        target = series.target
        if record.ttft_ms is not None:
            target.ttft.observe(record.ttft_ms / 1000)
        add_tokens(target.tokens, record)
        target.add_cost(record.cost_usd, record.baseline_cost_usd)
        for attempt in record.attempts:
            self._count_attempt(attempt)

    def render(self) -> tuple[bytes, str]:
        """The exposition text of every series, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE

    def _count_attempt(self, attempt: Attempt) -> None:
        target = attempt.target
        self._by_attempt[target.provider.name, target.model, attempt.status].value += 1

    def _request_series(
        self, scenario: str | None, provider: str | None, model: str | None, status: int
    ) -> _RequestSeries:
        labels = (
            self._scenarios(scenario),
            self._providers(provider),
            self._models(model),
            self._statuses(str(status)),
        )
        return self._recorded.requests.get(labels)

    def _attempt_tally(self, provider: str, model: str, status: int) -> _Tally:
        outcome = "cooling" if status == 0 else str(status)  # as `Attempt.outcome`
        labels = (self._providers(provider), self._models(model), self._outcomes(outcome))
        return self._recorded.attempts.get(labels)
