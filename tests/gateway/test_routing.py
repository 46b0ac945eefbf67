"""The routing decision on hand-made bodies: each rule, its order, and CCR's marked bugs fixed (REFERENCE §3).

What the real Claude Code sends is replayed through the same decision in test_routing_claude_code.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccrouter.config.loading import parse_config
from ccrouter.config.model import Config, Provider, Target
from ccrouter.config.scenarios import Scenario
from ccrouter.errors import RoutingError
from ccrouter.gateway.records import RequestRecord
from ccrouter.gateway.request import MessagesRequest
from ccrouter.gateway.request_kind import kind_of, think_signals
from ccrouter.gateway.routing import Facts, Route, route
from ccrouter.gateway.sessions import LastInputTokens
from ccrouter.gateway.subagent import take_subagent_tag
from ccrouter.gateway.turns import Pin

CONFIG = {
    "Providers": [
        {"name": "main", "api_base_url": "http://127.0.0.1:1/v1", "models": ["m-default", "m-think", "m-long"]},
        {"name": "Local", "api_base_url": "http://127.0.0.1:2/v1", "models": ["small", "Vision"]},
        {"name": "search", "api_base_url": "http://127.0.0.1:3/v1", "models": ["web"]},
    ],
    "Router": {
        "default": "main,m-default",
        "background": "local,small",
        "think": "main,m-think",
        "longContext": "main,m-long",
        "longContextThreshold": 1000,
        "webSearch": "search,web",
        "image": "local,vision",
    },
    "fallback": {"default": ["local,small"], "think": ["search,web", "main,m-default"]},
}


@pytest.fixture(scope="module")
def config() -> Config:
    return parse_config(json.dumps(CONFIG), {})


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-5-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **fields}


def decide(
    config: Config,
    body: dict[str, Any],
    *,
    tokens: int = 10,
    session_last_input: int = 0,
    custom_choice: str | None = None,
    pin: Pin | None = None,
    headers: dict[str, str] | None = None,
) -> Route:
    """What the gateway does: the subagent tag taken out first, the request's kind read, then the decision."""
    subagent = take_subagent_tag(body)
    request = MessagesRequest(body, headers or {})
    facts = Facts(
        kind_of(request), tokens, lambda: think_signals(request), session_last_input, subagent, custom_choice, pin
    )
    return route(request, config, facts)


def chosen(config: Config, request: dict[str, Any], **kwargs: Any) -> tuple[str, str]:
    result = decide(config, request, **kwargs)
    return result.scenario, result.primary.label


def test_default(config: Config) -> None:
    assert chosen(config, body()) == ("default", "main,m-default")


def test_fallbacks_follow_the_primary(config: Config) -> None:
    result = decide(config, body(thinking={"type": "enabled", "budget_tokens": 2000}), tokens=5)
    assert [t.label for t in result.targets] == ["main,m-think", "search,web", "main,m-default"]
    assert [t.label for t in decide(config, body(), tokens=5).targets] == ["main,m-default", "Local,small"]


def test_background_needs_claude_and_haiku(config: Config) -> None:
    assert chosen(config, body(model="claude-haiku-5-5")) == ("background", "Local,small")
    assert chosen(config, body(model="Claude-3-5-HAIKU")) == ("background", "Local,small")
    assert chosen(config, body(model="haiku-like")) == ("default", "main,m-default")


def test_think_is_a_wish_for_more_reasoning_not_any_thinking(config: Config) -> None:
    # A client's own budget is a choice; adaptive thinking at the model's default effort is not (CCR's bug: Claude
    # Code sends it on every main turn); a higher effort is.
    assert chosen(config, body(thinking={"type": "enabled", "budget_tokens": 1024}))[0] == "think"
    assert chosen(config, body(thinking={"type": "adaptive"}))[0] == "default"
    assert chosen(config, body(thinking={"type": "adaptive"}, output_config={"effort": "medium"}))[0] == "default"
    assert chosen(config, body(thinking={"type": "adaptive"}, output_config={"effort": "high"}))[0] == "think"
    assert chosen(config, body(thinking={"type": "disabled"}))[0] == "default"


def test_the_default_effort_depends_on_the_model_id(config: Config) -> None:
    """Claude Code sends "high" to ids it does not know without the user asking, "medium" to its own."""
    high = {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}
    assert chosen(config, body(model="claude-opus-5-5", **high))[0] == "think"
    assert chosen(config, body(model="my-custom-model", **high))[0] == "default"
    assert (
        chosen(config, body(model="my-custom-model", thinking={"type": "adaptive"}, output_config={"effort": "max"}))[0]
        == "think"
    )


def test_which_think_signals_count_is_configurable() -> None:
    only_plan = parse_config(json.dumps({**CONFIG, "Router": {**CONFIG["Router"], "thinkSignals": ["planMode"]}}), {})
    assert chosen(only_plan, body(thinking={"type": "enabled", "budget_tokens": 1024}))[0] == "default"
    plan_note = {"role": "system", "content": "Plan mode is active. The user indicated that they do not want..."}
    plan_mode = body(messages=[{"role": "user", "content": "hi"}, plan_note])
    assert chosen(only_plan, plan_mode)[0] == "think"


def test_web_search_tool(config: Config) -> None:
    tools = [{"name": "Bash", "input_schema": {}}, {"type": "web_search_20250305", "name": "web_search"}]
    assert chosen(config, body(tools=tools)) == ("webSearch", "search,web")


def test_image_in_last_user_message_directly_or_inside_tool_result(config: Config) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    direct = body(messages=[{"role": "user", "content": [image, {"type": "text", "text": "what is this"}]}])
    assert chosen(config, direct) == ("image", "Local,Vision")
    nested = body(
        messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [image]}]}]
    )
    assert chosen(config, nested)[0] == "image"
    earlier = body(
        messages=[
            {"role": "user", "content": [image]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "and now text"},
        ]
    )
    assert chosen(config, earlier)[0] == "default"


def test_long_context_by_threshold_and_by_session_history(config: Config) -> None:
    assert chosen(config, body(), tokens=1001) == ("longContext", "main,m-long")
    assert chosen(config, body(), tokens=1000)[0] == "default"
    # The session once went past the threshold: it stays long while the estimate is above 20000.
    assert chosen(config, body(), tokens=20001, session_last_input=0)[0] == "longContext"  # above threshold anyway
    small_threshold = parse_config(
        json.dumps({**CONFIG, "Router": {**CONFIG["Router"], "longContextThreshold": 60000}}), {}
    )
    assert chosen(small_threshold, body(), tokens=25000, session_last_input=70000)[0] == "longContext"
    assert chosen(small_threshold, body(), tokens=15000, session_last_input=70000)[0] == "default"
    assert chosen(small_threshold, body(), tokens=25000, session_last_input=50000)[0] == "default"


def test_explicit_provider_model_is_case_insensitive_on_both_names(config: Config) -> None:
    assert chosen(config, body(model="LOCAL,SMALL")) == ("explicit", "Local,small")
    assert chosen(config, body(model="local, vision")) == ("explicit", "Local,Vision")


def test_an_explicit_choice_falls_back_like_default(config: Config) -> None:
    """CCR 2.x: when the provider named by hand fails, `fallback.default` is tried."""
    assert [t.label for t in decide(config, body(model="main,m-think")).targets] == ["main,m-think", "Local,small"]
    assert [t.label for t in decide(config, body(model="local,small")).targets] == ["Local,small"]  # not twice


def test_explicit_beats_long_context_and_think(config: Config) -> None:
    request = body(model="local,small", thinking={"type": "enabled", "budget_tokens": 5000})
    assert chosen(config, request, tokens=999999) == ("explicit", "Local,small")


@pytest.mark.parametrize(("model", "fragment"), [("nobody,x", "'nobody'"), ("local,nomodel", "'nomodel'")])
def test_unknown_explicit_target_is_a_clear_error(config: Config, model: str, fragment: str) -> None:
    with pytest.raises(RoutingError) as info:
        decide(config, body(model=model), tokens=1)
    assert fragment in info.value.message and info.value.status == 400


def test_subagent_tag_routes_and_is_removed(config: Config) -> None:
    system = [
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "<CCR-SUBAGENT-MODEL>search,web</CCR-SUBAGENT-MODEL>\nYou review code."},
    ]
    request = body(system=system, model="claude-haiku-4-5")  # the tag wins over background
    assert chosen(config, request) == ("subagent", "search,web")
    assert request["system"][1]["text"] == "You review code."


def test_subagent_tag_with_unknown_target_is_removed_and_ignored(config: Config) -> None:
    system = [
        {"type": "text", "text": "x"},
        {"type": "text", "text": "<CCR-SUBAGENT-MODEL>zz,yy</CCR-SUBAGENT-MODEL>rest"},
    ]
    request = body(system=system)
    assert chosen(config, request) == ("default", "main,m-default")
    assert request["system"][1]["text"] == "rest"


def test_a_tagged_subagent_keeps_its_model_in_long_context_and_others_go_long(config: Config) -> None:
    system = [
        {"type": "text", "text": "x"},
        {"type": "text", "text": "<CCR-SUBAGENT-MODEL>search,web</CCR-SUBAGENT-MODEL>"},
    ]
    assert chosen(config, body(system=system), tokens=5000) == ("subagent", "search,web")
    assert chosen(config, body(), tokens=5000)[0] == "longContext"


def test_scenarios_are_the_shared_names(config: Config) -> None:
    result = decide(config, body(model="claude-haiku-4-5"))
    assert result.scenario is Scenario.BACKGROUND and result.scenario == "background"


def test_custom_router_choice_wins_and_unknown_choice_falls_through(config: Config) -> None:
    assert chosen(config, body(model="local,small"), custom_choice="Search,WEB") == ("custom", "search,web")
    assert chosen(config, body(), custom_choice="nobody,nothing") == ("default", "main,m-default")


def test_a_pin_keeps_the_turn_on_its_target_while_it_fits(config: Config) -> None:
    target = config.resolve("main,m-think")
    assert target is not None
    pin = Pin(target, "think")
    pinned = decide(config, body(), pin=pin)
    assert (pinned.name, pinned.primary.label, pinned.pinned) == ("think", "main,m-think", True)
    assert [t.label for t in pinned.targets] == ["main,m-think", "search,web", "main,m-default"]  # think's fallbacks
    assert chosen(config, body(), pin=pin, tokens=5000) == ("longContext", "main,m-long")  # it outgrew the model
    assert chosen(config, body(model="local,small"), pin=pin) == ("explicit", "Local,small")  # the user's choice wins
    gone = Target(Provider("gone", "http://127.0.0.1:9/v1", None, ("model",)), "model")
    assert chosen(config, body(), pin=Pin(gone, "think")) == ("default", "main,m-default")  # no longer configured
    reloaded = parse_config(json.dumps(CONFIG), {})  # the same routes from a new config: the pin still holds
    assert chosen(reloaded, body(), pin=pin) == ("think", "main,m-think")
    off = parse_config(json.dumps({**CONFIG, "Router": {**CONFIG["Router"], "pinTurns": False}}), {})
    assert chosen(off, body(), pin=pin) == ("default", "main,m-default")


def test_unconfigured_scenarios_fall_through_to_default() -> None:
    minimal = parse_config(json.dumps({**CONFIG, "Router": {"default": "main,m-default"}}), {})
    request = body(
        model="claude-haiku-4-5",
        thinking={"type": "enabled", "budget_tokens": 1},
        tools=[{"type": "web_search_20250305", "name": "web_search"}],
    )
    assert chosen(minimal, request, tokens=10**6) == ("default", "main,m-default")


def test_no_default_is_a_clear_error() -> None:
    no_default = parse_config(json.dumps({**CONFIG, "Router": {"think": "main,m-think"}}), {})
    with pytest.raises(RoutingError, match=r"Router\.default"):
        decide(no_default, body(), tokens=1)


def test_last_input_tokens_keeps_served_requests_of_recent_sessions() -> None:
    last = LastInputTokens(capacity=2)
    for session, tokens in (("a", 10), ("b", 20), ("c", 30)):
        last(RequestRecord("r", 0.0, session_id=session, status=200, input_tokens=tokens, cache_read_input_tokens=1))
    last(RequestRecord("r", 0.0, session_id="c", status=429, input_tokens=99))  # not served: not kept
    assert (last.get("a"), last.get("b"), last.get("c"), last.get(None)) == (0, 21, 31, 0)
