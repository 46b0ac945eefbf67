"""The config's `Budgets`: spending caps per period, each over a scope of requests, with what happens at the cap.

`{"name": "daily", "scope": "all" | "provider:NAME" | "route:NAME" | "model:PROVIDER,MODEL", "period": "day" |
"month", "usd": 5.0, "warn_at": 0.8, "then": "provider,model"}`. At the cap the requests in scope go to `then`, or
are refused without it. `then` must lie outside the scope, or switching to it would not stop the spending: a
provider or model scope may not contain it, and "all" contains everything. A route keeps its name whichever target
serves it, so a route scope leaves out the requests its `then` serves (the budget counts the route's own targets).
`ledger/budgets.py` keeps the spend; this module only reads and checks the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ccrouter.config.model import Provider
from ccrouter.config.router_section import target_of
from ccrouter.config.scalars import number, read_typed, reject_unknown_keys, shown
from ccrouter.config.scenarios import Scenario
from ccrouter.errors import ConfigError

ScopeKind = Literal["all", "provider", "route", "model"]
Period = Literal["day", "month"]
DEFAULT_WARN_AT = 0.8
_KEYS = ("name", "scope", "period", "usd", "warn_at", "then")
_EXAMPLE = '{"name": "daily", "scope": "all", "period": "day", "usd": 5.0}'
_SCOPES = '"all", "provider:NAME", "route:NAME" or "model:PROVIDER,MODEL"'


@dataclass(frozen=True, slots=True)
class BudgetScope:
    """Which requests a budget counts: all, one provider's, one route's (a scenario; "subagent" also covers
    "subagent:<type>") or one model's. Names are as Providers and the scenarios spell them."""

    kind: ScopeKind
    provider: str | None = None
    model: str | None = None
    route: str | None = None

    @property
    def text(self) -> str:
        """The scope as the config writes it."""
        if self.kind == "provider":
            return f"provider:{self.provider}"
        if self.kind == "route":
            return f"route:{self.route}"
        if self.kind == "model":
            return f"model:{self.provider},{self.model}"
        return "all"

    def covers(self, provider: str | None, model: str | None, route: str | None) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "route":
            return route is not None and _route_in(route.casefold(), (self.route or "").casefold())
        if provider is None or provider.casefold() != (self.provider or "").casefold():
            return False
        return self.kind == "provider" or (model is not None and model.casefold() == (self.model or "").casefold())


@dataclass(frozen=True, slots=True)
class BudgetRule:
    name: str
    scope: BudgetScope
    period: Period
    usd: float
    warn_at: float = DEFAULT_WARN_AT  # the share of `usd` at which one warning is given per period
    then: tuple[str, str] | None = None  # (provider, model) the scope's requests go to at the cap; None: HTTP 429

    def covers(self, provider: str | None, model: str | None, route: str | None) -> bool:
        """Whether a request served by (provider, model) on `route` counts against this budget. Never one that its
        `then` serves: that is where the budget sends requests once it is spent."""
        if self.then is not None and _same_target(self.then, provider, model):
            return False
        return self.scope.covers(provider, model, route)


def budget_rules(data: Mapping[str, Any], providers: list[Provider]) -> tuple[BudgetRule, ...]:
    """The `Budgets` list of the config object `data`, checked against `providers`."""
    entries: list[Any] = read_typed(data, "Budgets", list, [], like=f"[{_EXAMPLE}]")
    return rule_list(entries, "Budgets", providers)


def rule_list(entries: list[Any], where: str, providers: list[Provider]) -> tuple[BudgetRule, ...]:
    """The budgets of the list at `where` (`Budgets`, or a user's `Users[i].budgets`), names unique within it."""
    rules: list[BudgetRule] = []
    for index, entry in enumerate(entries):
        rule = _rule(entry, f"{where}[{index}]", providers)
        if any(other.name.casefold() == rule.name.casefold() for other in rules):
            raise ConfigError(f"{where}[{index}].name {rule.name!r} is used by two budgets; give each its own name.")
        rules.append(rule)
    return tuple(rules)


def _rule(entry: Any, where: str, providers: list[Provider]) -> BudgetRule:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is {shown(entry)}; it must be an object like {_EXAMPLE}.")
    reject_unknown_keys(entry, _KEYS, where, whose="a budget's")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f'{where}.name must be a non-empty string, like "daily": the name messages and the 429 use.')
    scope = _scope(entry.get("scope", "all"), f"{where}.scope", providers)
    return BudgetRule(
        name=name.strip(),
        scope=scope,
        period=_period(entry.get("period"), f"{where}.period"),
        usd=_usd(entry.get("usd"), f"{where}.usd"),
        warn_at=_warn_at(entry.get("warn_at"), f"{where}.warn_at"),
        then=_then(entry.get("then"), f"{where}.then", scope, providers),
    )


def _scope(value: Any, where: str, providers: list[Provider]) -> BudgetScope:
    text = value.strip() if isinstance(value, str) else None
    if text is None or (text.casefold() != "all" and ":" not in text):
        raise ConfigError(f"{where} is {shown(value)}; it must be {_SCOPES}.")
    if text.casefold() == "all":
        return BudgetScope("all")
    kind, _, name = text.partition(":")
    kind, name = kind.strip().casefold(), name.strip()
    if kind == "provider":
        provider = next((p for p in providers if p.name.casefold() == name.casefold()), None)
        if provider is None:
            names = ", ".join(p.name for p in providers) or "none are configured"
            raise ConfigError(f"{where} names provider {name!r}, which is not in Providers ({names}). Fix the name.")
        return BudgetScope("provider", provider=provider.name)
    if kind == "route":
        return BudgetScope("route", route=_route_name(name, where))
    if kind == "model":
        target = target_of(name, where, providers)
        return BudgetScope("model", provider=target.provider.name, model=target.model)
    raise ConfigError(f"{where} is {shown(value)}; it must be {_SCOPES}.")


def _route_name(name: str, where: str) -> str:
    """A scenario's name (as `x-ccr-route` says it), or "subagent:<type>" for an agent type's route."""
    known = {scenario.value.casefold(): scenario.value for scenario in Scenario}
    if name.casefold() in known:
        return known[name.casefold()]
    if name.casefold().startswith("subagent:") and name.partition(":")[2].strip():
        return "subagent:" + name.partition(":")[2].strip()
    raise ConfigError(
        f"{where} names route {name!r}; use one of {', '.join(known.values())}, or subagent:TYPE for an agent type."
    )


def _period(value: Any, where: str) -> Period:
    if value == "day":
        return "day"
    if value == "month":
        return "month"
    raise ConfigError(f'{where} is {shown(value)}; it must be "day" or "month" (in local time).')


def _usd(value: Any, where: str) -> float:
    found = number(value)
    if found is None or found <= 0:
        raise ConfigError(f"{where} is {shown(value)}; it must be a number of US dollars above 0, like 5.0.")
    return float(found)


def _warn_at(value: Any, where: str) -> float:
    if value is None:
        return DEFAULT_WARN_AT
    found = number(value)
    if found is None or not 0 < found <= 1:
        raise ConfigError(
            f"{where} is {shown(value)}; it must be a share of usd above 0 and at most 1, like {DEFAULT_WARN_AT}."
        )
    return float(found)


def _then(value: Any, where: str, scope: BudgetScope, providers: list[Provider]) -> tuple[str, str] | None:
    if value is None or value == "":
        return None
    target = target_of(value, where, providers)
    if scope.kind == "all":
        raise ConfigError(
            f'{where} is {value!r}, but scope "all" covers every request, so switching to it would not stop the '
            "spending. Narrow the scope, or remove then to refuse requests (HTTP 429) at the cap."
        )
    if scope.kind != "route" and scope.covers(target.provider.name, target.model, None):
        raise ConfigError(
            f"{where} is {value!r}, which lies inside the budget's own scope {scope.text!r}, so switching to it "
            "would not stop the spending. Pick a target outside it, or remove then to refuse requests at the cap."
        )
    return target.provider.name, target.model


def _route_in(route: str, scope_route: str) -> bool:
    return route == scope_route or (scope_route == "subagent" and route.startswith("subagent:"))


def _same_target(target: tuple[str, str], provider: str | None, model: str | None) -> bool:
    return (
        provider is not None
        and model is not None
        and provider.casefold() == target[0].casefold()
        and model.casefold() == target[1].casefold()
    )
