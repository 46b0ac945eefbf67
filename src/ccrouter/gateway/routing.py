"""Which target serves a request: CCR's scenario order (REFERENCE §3) with its known bugs fixed.

Pure: takes the parsed body and the facts the gateway gathered (token estimate, the session's history, a custom
router's answer) and returns a `Route`. It may remove the subagent tag from the body, which is forwarded without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ccrouter.config.model import Config, Target
from ccrouter.errors import RoutingError
from ccrouter.recent import Recent

SUBAGENT_OPEN = "<CCR-SUBAGENT-MODEL>"
SUBAGENT_CLOSE = "</CCR-SUBAGENT-MODEL>"
# A session that once went past the long-context threshold stays there while its estimate is above this.
SESSION_STAYS_LONG_ABOVE = 20_000


@dataclass(frozen=True, slots=True)
class Route:
    scenario: str
    targets: tuple[Target, ...]  # the primary first, then its fallbacks

    @property
    def primary(self) -> Target:
        return self.targets[0]


class SessionUsage:
    """The last input-token count each session's provider reported, bounded to the most recent sessions."""

    def __init__(self, capacity: int = 4096) -> None:
        self._last: Recent[int] = Recent(capacity)

    def get(self, session_id: str | None) -> int:
        return (self._last.get(session_id) or 0) if session_id else 0

    def record(self, session_id: str | None, input_tokens: int) -> None:
        if session_id and input_tokens > 0:
            self._last.put(session_id, input_tokens)


def session_id_of(body: dict[str, Any], headers: dict[str, str]) -> str | None:
    """Claude Code's session id: `metadata.user_id` (a JSON string, or the older `..._session_<id>` form),
    else the `x-claude-code-session-id` header."""
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str) and user_id:
        if user_id.startswith("{"):
            try:
                parsed = orjson.loads(user_id)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict) and isinstance(parsed.get("session_id"), str):
                return str(parsed["session_id"])
        elif "_session_" in user_id:
            return user_id.rsplit("_session_", 1)[1] or None
    return headers.get("x-claude-code-session-id") or None


def route(
    body: dict[str, Any],
    config: Config,
    *,
    token_estimate: int,
    session_last_input: int = 0,
    custom_choice: str | None = None,
) -> Route:
    scenario, target = _choose(body, config, token_estimate, session_last_input, custom_choice)
    fallbacks = config.fallback.get(scenario, ()) if scenario in config.routes else ()
    return Route(scenario, (target, *(t for t in fallbacks if t != target)))


def _choose(
    body: dict[str, Any],
    config: Config,
    token_estimate: int,
    session_last_input: int,
    custom_choice: str | None,
) -> tuple[str, Target]:
    routes = config.routes
    if custom_choice:
        target = config.resolve(custom_choice)
        if target is not None:
            return "custom", target
        # An unusable answer from the user's router is ignored, like an error in it.

    model = body.get("model")
    if isinstance(model, str) and "," in model:
        return "explicit", _explicit(model, config)

    if "longContext" in routes:
        threshold = config.long_context_threshold
        if token_estimate > threshold or (session_last_input > threshold and token_estimate > SESSION_STAYS_LONG_ABOVE):
            return "longContext", routes["longContext"]

    subagent = _take_subagent_tag(body, config)
    if subagent is not None:
        return "subagent", subagent

    if "background" in routes and isinstance(model, str):
        lowered = model.lower()
        if "claude" in lowered and "haiku" in lowered:
            return "background", routes["background"]

    if "webSearch" in routes and _has_web_search_tool(body):
        return "webSearch", routes["webSearch"]

    if "think" in routes and _wants_thinking(body):
        return "think", routes["think"]

    if "image" in routes and _last_user_message_has_image(body):
        return "image", routes["image"]

    if "default" not in routes:
        raise RoutingError(
            "No route fits this request and Router.default is not set. "
            'Set Router.default to "provider,model" in your config.'
        )
    return "default", routes["default"]


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


def _take_subagent_tag(body: dict[str, Any], config: Config) -> Target | None:
    system = body.get("system")
    if not isinstance(system, list) or len(system) < 2:
        return None
    block = system[1]
    text = block.get("text") if isinstance(block, dict) else None
    if not isinstance(text, str) or not text.startswith(SUBAGENT_OPEN):
        return None
    end = text.find(SUBAGENT_CLOSE)
    if end < 0:
        return None
    target = config.resolve(text[len(SUBAGENT_OPEN) : end])
    # The tag is the router's business, never the model's: remove it even when it names nothing usable.
    block["text"] = text[end + len(SUBAGENT_CLOSE) :].lstrip("\n")
    return target


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
