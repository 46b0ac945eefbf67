"""Which target serves a request: the scenario order for the Claude Code people run today.

Pure: takes the request, what kind of request it is (`request_kind.py`), and the facts the gateway gathered (token
estimate, the session's history, what a subagent tag named, a custom router's answer, the turn's pin) and returns
a `Route`. It only decides: the subagent tag was taken out of the body before (`subagent.py`).

The order: a custom router's answer; an explicit "provider,model" (or a route or model picked in `/model`); the
turn's pin; a subagent (its tag, its type's route, `Router.subagent`); a chore -> background; compaction; long
context; web search; the user asking for more reasoning -> think; an image; default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ccrouter.config.model import Config, Target
from ccrouter.config.scenarios import Scenario
from ccrouter.errors import RoutingError
from ccrouter.gateway.model_list import picked_model, picked_route
from ccrouter.gateway.request import MessagesRequest
from ccrouter.gateway.request_kind import RequestClass, RequestKind
from ccrouter.gateway.turns import Pin
from ccrouter.untrusted import clip

# A session that once went past the long-context threshold stays there while its estimate is above this.
SESSION_STAYS_LONG_ABOVE = 20_000


@dataclass(frozen=True, slots=True)
class Route:
    scenario: Scenario
    targets: tuple[Target, ...]  # the primary first, then its fallbacks
    name: str = ""  # what `x-ccr-route` and the logs say: the scenario, or "subagent:<type>" for a type's route
    pinned: bool = False  # the turn's pin chose it

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.scenario.value)

    @property
    def primary(self) -> Target:
        return self.targets[0]


@dataclass(frozen=True, slots=True)
class Facts:
    """What the gateway knows about a request beyond its body."""

    kind: RequestKind
    token_estimate: int
    think_signals: Callable[[], frozenset[str]]  # asked only when the think rule is reached
    session_last_input: int = 0
    subagent: str | None = None  # what a subagent tag named ("provider,model" as written)
    custom_choice: str | None = None  # what the custom router answered
    pin: Pin | None = None  # what served this request's turn so far


def route(request: MessagesRequest, config: Config, facts: Facts) -> Route:
    """The route for `request`."""
    routes = config.routes
    if facts.custom_choice:
        target = config.resolve(facts.custom_choice)
        if target is not None:
            return Route(Scenario.CUSTOM, (target,))
        # An unusable answer from the user's router is ignored, like an error in it.

    model = request.model
    scenario = picked_route(model, config)
    if scenario is not None:  # a route picked in /model: that route, whatever the request looks like
        return _scenario_route(config, scenario)
    explicit = picked_model(model) or (model if "," in model else None)
    if explicit is not None:  # as CCR 2.x: the default route's fallbacks stand behind an explicit choice too
        target = _explicit(explicit, config)
        fallbacks = config.fallback.get(Scenario.DEFAULT, ())
        return Route(Scenario.EXPLICIT, _with_fallbacks(target, fallbacks))

    long_context = _long_context(config, facts)
    pinned = _pinned(config, facts, long_context)
    if pinned is not None:
        return pinned

    if facts.subagent:
        target = config.resolve(facts.subagent)
        if target is not None:
            return Route(Scenario.SUBAGENT, (target,))
    request_class = facts.kind.request_class
    if request_class is RequestClass.SUBAGENT:
        agent_type = facts.kind.agent_type or ""
        typed = config.agent_routes.get(agent_type.casefold())
        if typed:
            return Route(Scenario.SUBAGENT, typed, f"{Scenario.SUBAGENT}:{agent_type}")
        if Scenario.SUBAGENT in routes:
            return _scenario_route(config, Scenario.SUBAGENT)

    if Scenario.BACKGROUND in routes and (request_class is RequestClass.AUXILIARY or _is_haiku(model)):
        return _scenario_route(config, Scenario.BACKGROUND)

    if request_class is RequestClass.COMPACTION:
        if Scenario.COMPACTION in routes:
            return _scenario_route(config, Scenario.COMPACTION)
        return _scenario_route(config, Scenario.LONG_CONTEXT if long_context else Scenario.DEFAULT)

    if long_context:
        return _scenario_route(config, Scenario.LONG_CONTEXT)

    body = request.body
    if Scenario.WEB_SEARCH in routes and _has_web_search_tool(body):
        return _scenario_route(config, Scenario.WEB_SEARCH)

    if Scenario.THINK in routes and facts.think_signals() & config.think_signals:
        return _scenario_route(config, Scenario.THINK)

    if Scenario.IMAGE in routes and _last_user_message_has_image(body):
        return _scenario_route(config, Scenario.IMAGE)

    return _scenario_route(config, Scenario.DEFAULT)


def _scenario_route(config: Config, scenario: Scenario) -> Route:
    target = config.routes.get(scenario)
    if target is None:
        raise RoutingError(
            "No route fits this request and Router.default is not set. "
            'Set Router.default to "provider,model" in your config.'
        )
    fallbacks = config.fallback.get(scenario, ())
    return Route(scenario, _with_fallbacks(target, fallbacks))


def _long_context(config: Config, facts: Facts) -> bool:
    if Scenario.LONG_CONTEXT not in config.routes:
        return False
    threshold, estimate = config.long_context_threshold, facts.token_estimate
    return estimate > threshold or (facts.session_last_input > threshold and estimate > SESSION_STAYS_LONG_ABOVE)


def _pinned(config: Config, facts: Facts, long_context: bool) -> Route | None:
    """The turn's target, while it is still configured and the request still fits it."""
    pin = facts.pin
    if pin is None or not config.pin_turns:
        return None
    target: Target | None = pin.target
    if config.provider(pin.target.provider.name) is not pin.target.provider:  # the config changed since
        target = config.resolve(pin.target.label)
    if target is None:
        return None
    try:
        scenario = Scenario(pin.scenario.partition(":")[0])
    except ValueError:
        scenario = Scenario.DEFAULT
    if long_context and scenario is not Scenario.LONG_CONTEXT:
        return None  # the conversation outgrew the turn's model
    route_target = config.routes.get(scenario)
    fallbacks = config.fallback.get(scenario, ()) if route_target and route_target.label == target.label else ()
    return Route(scenario, _with_fallbacks(target, fallbacks), pin.scenario, pinned=True)


def _with_fallbacks(target: Target, fallbacks: tuple[Target, ...]) -> tuple[Target, ...]:
    return (target, *(t for t in fallbacks if t.label != target.label))


def _is_haiku(model: str) -> bool:
    lowered = model.lower()
    return "claude" in lowered and "haiku" in lowered


def _explicit(model: str, config: Config) -> Target:
    target = config.resolve(model)
    if target is not None:
        return target
    provider_name, _, model_name = model.partition(",")
    provider = config.provider(provider_name.strip())
    if provider is None:
        names = ", ".join(p.name for p in config.providers.values())
        raise RoutingError(
            f"The request asks for provider {clip(provider_name.strip())!r}, which is not configured "
            f"(configured: {names}). Use /model with one of them, or add it to Providers."
        )
    raise RoutingError(
        f"Provider {provider.name!r} does not list model {clip(model_name.strip())!r} "
        f"(its models: {', '.join(provider.models)}). Add it to the provider's models or pick a listed one."
    )


def _has_web_search_tool(body: dict[str, Any]) -> bool:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return False
    return any(
        isinstance(t, dict) and isinstance(t.get("type"), str) and t["type"].startswith("web_search") for t in tools
    )


def _last_user_message_has_image(body: dict[str, Any]) -> bool:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return False
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _has_image(message.get("content"))
    return False


def _has_image(content: Any) -> bool:
    if not isinstance(content, list):
        return False
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "image":
            return True
        if block.get("type") == "tool_result" and _has_image(block.get("content")):
            return True
    return False
