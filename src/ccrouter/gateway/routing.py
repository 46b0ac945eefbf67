"""Which target serves a request: CCR's scenario order (REFERENCE §3) with its known bugs fixed.

Pure: takes the request and the facts the gateway gathered (token estimate, the session's history, what a subagent
tag named, a custom router's answer) and returns a `Route`. It only decides: the subagent tag was taken out of the
body before (`subagent.py`), and nothing here changes the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ccrouter.config.model import Config, Target
from ccrouter.config.scenarios import Scenario
from ccrouter.errors import RoutingError
from ccrouter.gateway.request import MessagesRequest

# A session that once went past the long-context threshold stays there while its estimate is above this.
SESSION_STAYS_LONG_ABOVE = 20_000


@dataclass(frozen=True, slots=True)
class Route:
    scenario: Scenario
    targets: tuple[Target, ...]  # the primary first, then its fallbacks

    @property
    def primary(self) -> Target:
        return self.targets[0]


def route(
    request: MessagesRequest,
    config: Config,
    *,
    token_estimate: int,
    session_last_input: int = 0,
    subagent: str | None = None,
    custom_choice: str | None = None,
) -> Route:
    """The route for `request`. `subagent` is what a subagent tag named, `custom_choice` what the custom router
    answered ("provider,model" as written, either; an unknown one is ignored)."""
    scenario, target = _choose(request, config, token_estimate, session_last_input, subagent, custom_choice)
    fallbacks = config.fallback.get(scenario, ()) if scenario in config.routes else ()
    return Route(scenario, (target, *(t for t in fallbacks if t != target)))


def _choose(
    request: MessagesRequest,
    config: Config,
    token_estimate: int,
    session_last_input: int,
    subagent: str | None,
    custom_choice: str | None,
) -> tuple[Scenario, Target]:
    routes = config.routes
    body = request.body
    if custom_choice:
        target = config.resolve(custom_choice)
        if target is not None:
            return Scenario.CUSTOM, target
        # An unusable answer from the user's router is ignored, like an error in it.

    model = request.model
    if "," in model:
        return Scenario.EXPLICIT, _explicit(model, config)

    if Scenario.LONG_CONTEXT in routes:
        threshold = config.long_context_threshold
        if token_estimate > threshold or (session_last_input > threshold and token_estimate > SESSION_STAYS_LONG_ABOVE):
            return Scenario.LONG_CONTEXT, routes[Scenario.LONG_CONTEXT]

    if subagent:
        target = config.resolve(subagent)
        if target is not None:
            return Scenario.SUBAGENT, target

    if Scenario.BACKGROUND in routes:
        lowered = model.lower()
        if "claude" in lowered and "haiku" in lowered:
            return Scenario.BACKGROUND, routes[Scenario.BACKGROUND]

    if Scenario.WEB_SEARCH in routes and _has_web_search_tool(body):
        return Scenario.WEB_SEARCH, routes[Scenario.WEB_SEARCH]

    if Scenario.THINK in routes and _wants_thinking(body):
        return Scenario.THINK, routes[Scenario.THINK]

    if Scenario.IMAGE in routes and _last_user_message_has_image(body):
        return Scenario.IMAGE, routes[Scenario.IMAGE]

    if Scenario.DEFAULT not in routes:
        raise RoutingError(
            "No route fits this request and Router.default is not set. "
            'Set Router.default to "provider,model" in your config.'
        )
    return Scenario.DEFAULT, routes[Scenario.DEFAULT]


def _explicit(model: str, config: Config) -> Target:
    target = config.resolve(model)
    if target is not None:
        return target
    provider_name, _, model_name = model.partition(",")
    provider = config.provider(provider_name.strip())
    if provider is None:
        names = ", ".join(p.name for p in config.providers.values())
        raise RoutingError(
            f"The request asks for provider {provider_name.strip()!r}, which is not configured "
            f"(configured: {names}). Use /model with one of them, or add it to Providers."
        )
    raise RoutingError(
        f"Provider {provider.name!r} does not list model {model_name.strip()!r} "
        f"(its models: {', '.join(provider.models)}). Add it to the provider's models or pick a listed one."
    )


def _has_web_search_tool(body: dict[str, Any]) -> bool:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return False
    return any(
        isinstance(t, dict) and isinstance(t.get("type"), str) and t["type"].startswith("web_search") for t in tools
    )


def _wants_thinking(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") != "disabled"


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
