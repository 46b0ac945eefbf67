"""The per-user series of `GET /metrics` (team mode): requests, tokens and cost of each member of the config's `Users`.

`UserMetrics` is a record sink beside `Metrics`, its series registered in the same `CollectorRegistry`, so one
scrape shows both. Only a record with `record.user` set adds to them: the gateway sets it to a `Users` member's
name, or "admin" for the APIKEY, and leaves it None without `Users`. So a router without `Users` exposes no
`ccr_user_*` sample, and its requests pay one attribute check here (the sink cannot be left out: `Users` can be
added by a hot reload).

    ccr_user_requests_total{user, status}   requests finished (a refusal of the user's route or rate limit too)
    ccr_user_tokens_total{user, kind}       tokens the providers reported, by kind (input, output, cache_read,
                                            cache_write), as ccr_tokens_total
    ccr_user_cost_usd_total{user}           what the user's priced requests cost, in USD

Bounded memory, as in metrics.py: user names come from the config, but a reload can bring new ones, so each label
shows at most `MAX_VALUES_PER_LABEL` values (later ones "other") and each family at most `MAX_LABEL_SETS` sets.

The hot path, as in metrics.py: a record adds to plain Python numbers, found by one lookup per distinct (user,
status) in a bounded dict; the event loop is the only writer, so no lock. A collector turns the numbers into metric
families at scrape time.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, Metric

from ccrouter.gateway.metrics import TOKEN_KINDS, LabelSets, LabelValues, add_tokens
from ccrouter.gateway.records import RequestRecord

_MAX_CACHED = 4096  # (user, status) pairs remembered with their series (the hot path's one lookup)


class _UserTotals:
    """What one user's requests added up to: tokens by kind (TOKEN_KINDS' order) and cost."""

    __slots__ = ("cost", "tokens")

    def __init__(self) -> None:
        self.tokens = [0.0] * len(TOKEN_KINDS)
        self.cost = 0.0

    def add(self, record: RequestRecord) -> None:
        """The record's tokens and cost; a NaN or negative amount adds nothing (a counter never goes down)."""
        add_tokens(self.tokens, record)
        cost = record.cost_usd
        if cost is not None and cost > 0:
            self.cost += cost


class _UserStatus:
    """One (user, status): its request count, and the user's totals the record adds to."""

    __slots__ = ("count", "totals")

    def __init__(self, totals: _UserTotals) -> None:
        self.count = 0.0
        self.totals = totals


class _UserSeries:
    """The collector of the per-user series: the plain numbers turned into metric families at scrape time."""

    def __init__(self) -> None:
        self.users: LabelSets[_UserTotals] = LabelSets(lambda labels: _UserTotals())
        self.requests: LabelSets[_UserStatus] = LabelSets(lambda labels: _UserStatus(self.users.get(labels[:1])))

    def describe(self) -> list[Metric]:
        """The names this collector owns (the registry checks them for clashes without calling `collect`)."""
        return list(_families())

    def collect(self) -> list[Metric]:
        requests, tokens, cost = _families()
        for labels, series in self.requests.items():
            requests.add_metric(labels, series.count)
        for labels, totals in self.users.items():
            for kind, amount in zip(TOKEN_KINDS, totals.tokens, strict=True):
                tokens.add_metric((*labels, kind), amount)
            cost.add_metric(labels, totals.cost)
        return [requests, tokens, cost]


def _families() -> tuple[CounterMetricFamily, CounterMetricFamily, CounterMetricFamily]:
    """One scrape's (empty) families, in the order they are exposed."""
    return (
        CounterMetricFamily(
            "ccr_user_requests",
            'Requests finished, by user (a name of Users, or "admin": the APIKEY) and HTTP status.',
            labels=("user", "status"),
        ),
        CounterMetricFamily(
            "ccr_user_tokens",
            "Tokens the providers reported for each user's requests, by kind (input, output, cache_read, cache_write).",
            labels=("user", "kind"),
        ),
        CounterMetricFamily("ccr_user_cost_usd", "What each user's requests cost, in US dollars.", labels=("user",)),
    )


class UserMetrics:
    """The record sink of the per-user series, which it registers in `registry` (the one `Metrics` renders)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._series = _UserSeries()
        registry.register(self._series)
        self._users, self._statuses = LabelValues(), LabelValues()
        self._remembered: dict[tuple[str, int], _UserStatus] = {}

    def __call__(self, record: RequestRecord) -> None:
        user = record.user
        if user is None:  # no Users in the config: the only cost to the request
            return
        series = self._remembered.get((user, record.status))
        if series is None:
            series = self._find(user, record.status)
        series.count += 1
        series.totals.add(record)

    def _find(self, user: str, status: int) -> _UserStatus:
        """The series of a (user, status) not remembered yet, made if new; remembered while the cache has room."""
        series = self._series.requests.get((self._users(user), self._statuses(str(status))))
        if len(self._remembered) < _MAX_CACHED:
            self._remembered[user, status] = series
        return series
