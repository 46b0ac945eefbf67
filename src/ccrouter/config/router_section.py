"""The config's `Router` section: which target serves each scenario, and how routing decides.

Read for the main config and, with the same rules, for the `Router` of a project's or a session's own config file
(`$CCR_HOME/<project>/config.json`, `$CCR_HOME/<project>/<session-id>.json`), which overrides the main one key by
key (`with_router_override`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ccrouter.config.model import DEFAULT_LONG_CONTEXT_THRESHOLD, Config, Provider, Target
from ccrouter.config.scalars import read_bool, read_typed, read_whole_number
from ccrouter.config.scenarios import ROUTE_SCENARIOS, THINK_SIGNALS, Scenario
from ccrouter.errors import ConfigError


@dataclass(frozen=True)
class RouterSection:
    routes: dict[str, Target] = field(default_factory=dict)  # Scenario -> target, the keys that are set
    route_fallbacks: dict[Scenario, tuple[Target, ...]] = field(default_factory=dict)  # from the list form
    long_context_threshold: int = DEFAULT_LONG_CONTEXT_THRESHOLD
    agent_routes: dict[str, tuple[Target, ...]] = field(default_factory=dict)
    think_signals: frozenset[str] = frozenset(THINK_SIGNALS)
    pin_turns: bool = True


def router_section(router: Mapping[str, Any], providers: Iterable[Provider], prefix: str = "Router") -> RouterSection:
    """The `Router` object `router`, checked against `providers`; errors name `prefix`.key and the fix."""
    providers = list(providers)
    routes: dict[str, Target] = {}
    route_fallbacks: dict[Scenario, tuple[Target, ...]] = {}
    for scenario in ROUTE_SCENARIOS:
        value = router.get(scenario)
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, list):  # ccrouter's list form: the target, then its fallbacks
            targets = [target_of(v, f"{prefix}.{scenario}[{i}]", providers) for i, v in enumerate(value)]
            routes[scenario], route_fallbacks[scenario] = targets[0], tuple(targets[1:])
        else:
            routes[scenario] = target_of(value, f"{prefix}.{scenario}", providers)
    return RouterSection(
        routes,
        route_fallbacks,
        read_whole_number(router, "longContextThreshold", DEFAULT_LONG_CONTEXT_THRESHOLD, prefix=f"{prefix}."),
        _agent_routes(router, providers, prefix),
        _think_signals(router, prefix),
        read_bool(router, "pinTurns", True, prefix=f"{prefix}."),
    )


def with_router_override(config: Config, router: Mapping[str, Any], prefix: str) -> Config:
    """`config` with the keys `router` sets replacing its own (a project's or a session's `Router`)."""
    section = router_section(router, config.providers.values(), prefix)
    fallback = dict(config.fallback)
    for scenario, extra in section.route_fallbacks.items():
        fallback[scenario] = unique_targets(extra + fallback.get(scenario, ()))
    return dataclasses.replace(
        config,
        routes={**config.routes, **section.routes},
        fallback=fallback,
        long_context_threshold=(
            section.long_context_threshold if "longContextThreshold" in router else config.long_context_threshold
        ),
        agent_routes={**config.agent_routes, **section.agent_routes},
        think_signals=section.think_signals if "thinkSignals" in router else config.think_signals,
        pin_turns=section.pin_turns if "pinTurns" in router else config.pin_turns,
    )


def target_of(value: Any, where: str, providers: list[Provider]) -> Target:
    if not isinstance(value, str) or "," not in value:
        raise ConfigError(
            f'{where} is {value!r}, but it must be "provider,model" (for example "deepseek,deepseek-chat"): '
            "the provider name from Providers, a comma, then one of its models."
        )
    provider_name, _, model = value.partition(",")
    provider = next((p for p in providers if p.name.casefold() == provider_name.strip().casefold()), None)
    if provider is None:
        names = ", ".join(p.name for p in providers) or "none are configured"
        raise ConfigError(
            f"{where} names provider {provider_name.strip()!r}, which is not in Providers ({names}). "
            "Add it to Providers or fix the name."
        )
    found = provider.find_model(model.strip())
    if found is None:
        raise ConfigError(
            f"{where} names model {model.strip()!r}, which provider {provider.name!r} does not list "
            f"(its models: {', '.join(provider.models)}). Add it to that provider's models or fix the name."
        )
    return Target(provider, found)


def _agent_routes(router: Mapping[str, Any], providers: list[Provider], prefix: str) -> dict[str, tuple[Target, ...]]:
    """`Router.agents`: {"Explore": "provider,model" or a list (the target, then its fallbacks), ...}."""
    block: dict[str, Any] = read_typed(router, "agents", dict, {}, prefix=f"{prefix}.")
    result: dict[str, tuple[Target, ...]] = {}
    for agent_type, value in block.items():
        where = f"{prefix}.agents.{agent_type}"
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ConfigError(f'{where} is empty; give it "provider,model" (or remove it).')
        result[agent_type.casefold()] = unique_targets(tuple(target_of(v, where, providers) for v in items))
    return result


def _think_signals(router: Mapping[str, Any], prefix: str) -> frozenset[str]:
    """`Router.thinkSignals`: which of the user's wishes for more reasoning send a request to `think`."""
    value = router.get("thinkSignals")
    if value is None:
        return frozenset(THINK_SIGNALS)
    if not isinstance(value, list) or any(item not in THINK_SIGNALS for item in value):
        raise ConfigError(
            f"{prefix}.thinkSignals is {value!r}; it must be a list of signals from {', '.join(THINK_SIGNALS)} "
            "(an empty list sends nothing to think on its own)."
        )
    return frozenset(value)


def unique_targets(targets: tuple[Target, ...]) -> tuple[Target, ...]:
    return tuple({target.label: target for target in reversed(targets)}[label] for label in _labels(targets))


def _labels(targets: tuple[Target, ...]) -> list[str]:
    return list(dict.fromkeys(target.label for target in targets))
