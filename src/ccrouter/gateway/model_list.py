"""`GET /v1/models`: the routes and configured models, as ids Claude Code's `/model` picker offers.

Claude Code 2.1.332 asks for this list at start when `CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1` (`ccr code` and
`ccr activate` set it), keeps the ids that contain "claude", and shows each `display_name` under "From gateway".
Picking one makes Claude Code send that id as the model of every later request of the session, so the ids name
where to go: `claude-ccr/route/<route>` (that route's target and fallbacks) or `claude-ccr/<provider>,<model>`.
"""

from __future__ import annotations

from typing import Any

from ccrouter.config.model import Config, Target
from ccrouter.config.scenarios import ROUTE_SCENARIOS, Scenario

MODEL_PREFIX = "claude-ccr/"
ROUTE_PREFIX = MODEL_PREFIX + "route/"
CREATED_AT = "2025-01-01T00:00:00Z"  # Anthropic's list format wants a date; these entries have no real one


def models_page(config: Config) -> dict[str, Any]:
    """The whole list in Anthropic's `GET /v1/models` format (one page: it is short)."""
    data = [_entry(ROUTE_PREFIX + route, f"{route} → {target.label}") for route, target in _routes(config)]
    for provider in config.providers.values():
        for model in provider.models:
            label = f"{provider.name},{model}"
            data.append(_entry(MODEL_PREFIX + label, label))
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def picked_route(model: str, config: Config) -> Scenario | None:
    """The route a `claude-ccr/route/<route>` id names, when it is configured."""
    if not model.startswith(ROUTE_PREFIX):
        return None
    name = model[len(ROUTE_PREFIX) :]
    scenario = next((s for s in ROUTE_SCENARIOS if s.value.casefold() == name.casefold()), None)
    return scenario if scenario is not None and scenario in config.routes else None


def picked_model(model: str) -> str | None:
    """The "provider,model" a `claude-ccr/<provider>,<model>` id names (not checked against the config here)."""
    if model.startswith(MODEL_PREFIX) and not model.startswith(ROUTE_PREFIX) and "," in model:
        return model[len(MODEL_PREFIX) :]
    return None


def _routes(config: Config) -> list[tuple[str, Target]]:
    return [(scenario.value, config.routes[scenario]) for scenario in ROUTE_SCENARIOS if scenario in config.routes]


def _entry(model_id: str, display_name: str) -> dict[str, Any]:
    return {"type": "model", "id": model_id, "display_name": display_name, "created_at": CREATED_AT}
