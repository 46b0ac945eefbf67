"""A loaded config, described for people: the providers, the routing table, the fallbacks, and what looks wrong.

Used by `ccr config check` and `ccr init` (providers, routes, warnings) and `ccr model` (the routing table). It reads
the loaded config only: nothing is built or contacted, and a key's value is never shown.
"""

from __future__ import annotations

from ccrouter.config.apikey import weak_apikey_warning
from ccrouter.config.model import Config
from ccrouter.config.scenarios import ROUTE_SCENARIOS, Scenario
from ccrouter.service.exposed_keys import exposed_keys_warning


def route_rows(config: Config) -> list[tuple[str, str]]:
    """(route, what serves it) for every route, set or not, plus the long-context threshold."""
    rows: list[tuple[str, str]] = []
    for scenario in ROUTE_SCENARIOS:
        target = config.routes.get(scenario)
        if target is not None:
            value = target.label
        elif scenario is Scenario.DEFAULT:
            value = "(not set: requests no other route takes are refused)"
        else:
            value = "(not set: default)"
        rows.append((scenario, value))
    rows.append(("longContextThreshold", f"{config.long_context_threshold} tokens"))
    return rows


def routing_table(config: Config) -> list[str]:
    lines = ["routes:"]
    lines += _aligned(route_rows(config))
    if config.fallback:
        lines.append("fallback (tried in order when the route's target fails):")
        lines += _aligned([(key, ", ".join(t.label for t in targets)) for key, targets in config.fallback.items()])
    return lines


def provider_lines(config: Config) -> list[str]:
    if not config.providers:
        return ["providers: none"]
    lines = ["providers:"]
    rows = []
    for provider in config.providers.values():
        count = f"{len(provider.models)} model{'s' if len(provider.models) != 1 else ''}"
        key = "key set" if provider.api_key else "no key"
        kind = provider.adapter_kind(provider.models[0])
        rows.append((provider.name, f"{count}, {kind}, {key}: {provider.api_base_url}"))
    lines += _aligned(rows)
    return lines


def targets_lines(config: Config) -> list[str]:
    """Every `provider,model` a route may name."""
    return [f"  {provider.name},{model}" for provider in config.providers.values() for model in provider.models]


def warnings(config: Config) -> list[str]:
    """What loads but will not work as the user probably expects."""
    found: list[str] = []
    if not config.providers:
        found.append(
            "Providers is empty: ccrouter has nowhere to send requests. Add a provider (export a provider key and "
            "see `ccr init --stdout` for ready-made entries)."
        )
    if Scenario.DEFAULT not in config.routes and config.providers:
        found.append(
            "Router.default is not set: requests that no other route takes are refused. "
            "Set it with `ccr model default provider,model`."
        )
    weak_key = weak_apikey_warning(config.host, config.apikey)  # the service warns at start too (auth.bind_host)
    if weak_key is not None:
        found.append(weak_key)
    exposed = exposed_keys_warning(config.path) if config.path is not None else None
    if exposed is not None:
        found.append(exposed)
    return found


def _aligned(rows: list[tuple[str, str]]) -> list[str]:
    width = max((len(key) for key, _ in rows), default=0)
    return [f"  {key:<{width}}  {value}" for key, value in rows]
