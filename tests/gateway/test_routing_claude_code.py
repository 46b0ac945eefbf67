"""What the real Claude Code 2.1.332 sends, replayed through routing: every capture in
`tests/fixtures/claude_code/routing/` (made by `tests/tools/capture_routing.py`) goes where it should, read from
its gateway hint headers and, with those stripped, from its body alone; both readings agree.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ccrouter.config.loading import parse_config
from ccrouter.config.model import Config
from ccrouter.gateway.records import Attempt, RequestRecord
from ccrouter.gateway.request import MessagesRequest
from ccrouter.gateway.request_kind import RequestClass, default_effort, kind_of, think_signals
from ccrouter.gateway.routing import Facts, Route, route
from ccrouter.gateway.subagent import take_subagent_tag
from ccrouter.gateway.turns import TurnPins, continues_turn, turn_key
from tests.support.paths import FIXTURES_DIR

CAPTURES = FIXTURES_DIR / "claude_code" / "routing"
ROUTES = ("default", "background", "think", "longContext", "webSearch", "image", "subagent", "compaction")
CONFIG = {
    "Providers": [
        {"name": "p", "api_base_url": "http://127.0.0.1:1/v1", "models": [*ROUTES, "explore", "plan"]},
        {"name": "fast", "api_base_url": "http://127.0.0.1:2/v1", "models": ["fast-model"]},
    ],
    "Router": {
        **{route: f"p,{route}" for route in ROUTES},
        "longContextThreshold": 500_000,
        "agents": {"Explore": "p,explore", "Plan": "p,plan"},
    },
}

# capture -> (route name, target, Claude Code's request class)
EXPECTED = {
    "plain": ("default", "p,default", "main"),
    "plain_no_hints": ("default", "p,default", "main"),
    "effort_low": ("default", "p,default", "main"),
    "effort_high": ("think", "p,think", "main"),
    "ultrathink": ("think", "p,think", "main"),
    "plan_mode": ("think", "p,think", "main"),
    # An id Claude Code does not know gets effort "high" without the user asking; "xhigh" is the user's.
    "custom_model": ("default", "p,default", "main"),
    "custom_model_effort_xhigh": ("think", "p,think", "main"),
    "explicit_model": ("explicit", "fast,fast-model", "main"),
    "discovered_model": ("explicit", "fast,fast-model", "main"),
    "picked_model": ("think", "p,think", "main"),  # /model picked the gateway's "claude-ccr/route/think"
    # Older ids get an `enabled` budget on every turn (31999, or MAX_THINKING_TOKENS capped there): not a wish.
    "older_model": ("default", "p,default", "main"),
    "older_model_budget": ("default", "p,default", "main"),
    "tool_loop": ("default", "p,default", "main"),
    "tool_loop.followup": ("default", "p,default", "main"),
    "explore_agent": ("subagent:Explore", "p,explore", "subagent"),
    "explore_agent.main": ("default", "p,default", "main"),
    "plan_agent": ("subagent:Plan", "p,plan", "subagent"),
    "plan_agent.main": ("default", "p,default", "main"),
    "custom_agent": ("subagent", "p,subagent", "subagent"),
    "custom_agent.main": ("default", "p,default", "main"),
    "tagged_agent": ("subagent", "fast,fast-model", "subagent"),
    "tagged_agent.main": ("default", "p,default", "main"),
    "tag_in_prompt": ("default", "p,default", "main"),
    "tag_in_tool_result": ("default", "p,default", "main"),
    "title_chore": ("background", "p,background", "auxiliary"),
    "interactive_main": ("default", "p,default", "main"),
    "compaction": ("compaction", "p,compaction", "compaction"),
}


@pytest.fixture(scope="module")
def config() -> Config:
    return parse_config(json.dumps(CONFIG), {})


def capture(name: str, hints: bool) -> tuple[dict[str, Any], dict[str, str]]:
    body = json.loads((CAPTURES / f"{name}.json").read_text(encoding="utf-8"))
    headers = json.loads((CAPTURES / f"{name}.headers.json").read_text(encoding="utf-8"))["headers"]
    if not hints:  # what Claude Code sends without CLAUDE_CODE_GATEWAY_HINT_HEADERS (the session header stays)
        headers = {k: v for k, v in headers.items() if not k.startswith("x-claude-code-") or k.endswith("session-id")}
    return body, headers


def decide(config: Config, body: dict[str, Any], headers: dict[str, str], pins: TurnPins | None = None) -> Route:
    """What the gateway does with a request, up to the routing decision."""
    subagent = take_subagent_tag(body)
    request = MessagesRequest(body, headers)
    kind = kind_of(request)
    pin = pins.get(turn_key(request, kind)) if pins is not None and continues_turn(request) else None
    return route(request, config, Facts(kind, 1000, lambda: think_signals(request), 0, subagent, None, pin))


def test_every_capture_has_an_expectation() -> None:
    captured = {path.name.removesuffix(".json") for path in CAPTURES.glob("*.json") if ".headers." not in path.name}
    assert captured == set(EXPECTED)


@pytest.mark.parametrize("hints", [True, False], ids=["hint-headers", "body-only"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_captures_route_where_they_should(config: Config, name: str, hints: bool) -> None:
    body, headers = capture(name, hints)
    request_class = kind_of(MessagesRequest(copy.deepcopy(body), headers)).request_class
    chosen = decide(config, body, headers)
    route_name, target, expected_class = EXPECTED[name]
    assert (chosen.name, chosen.primary.label) == (route_name, target)
    assert request_class is RequestClass(expected_class)
    assert "CCR-SUBAGENT-MODEL" not in json.dumps(body["system"])  # the tag never reaches a provider


@pytest.mark.parametrize("name", ["tag_in_prompt", "tag_in_tool_result"])
def test_a_tag_outside_the_system_prompt_is_left_alone(name: str) -> None:
    body, _ = capture(name, hints=True)
    before = json.dumps(body)
    assert "CCR-SUBAGENT-MODEL" in before
    assert take_subagent_tag(body) is None and json.dumps(body) == before


def test_the_body_reading_agrees_with_the_headers_on_the_agent_type() -> None:
    for name, agent_type in [("explore_agent", "Explore"), ("plan_agent", "Plan"), ("custom_agent", "custom")]:
        for hints in (True, False):
            body, headers = capture(name, hints)
            assert kind_of(MessagesRequest(body, headers)).agent_type == agent_type, (name, hints)


def test_default_efforts_are_the_ones_claude_code_sends() -> None:
    for name in ("plain", "custom_model", "explicit_model", "discovered_model", "interactive_main"):
        body, _ = capture(name, hints=True)
        assert body["output_config"]["effort"] == default_effort(body["model"]), name


@pytest.mark.parametrize("hints", [True, False], ids=["hint-headers", "body-only"])
def test_a_tool_loop_stays_on_the_target_of_its_first_request(config: Config, hints: bool) -> None:
    """The turn's first request was served by think's fallback (say think's target had failed): the tool result
    that continues the turn goes there too, not back to default."""
    pins = TurnPins()
    first, first_headers = capture("tool_loop", hints)
    request = MessagesRequest(first, first_headers)
    served = RequestRecord("r1", 0.0, session_id=request.session_id, scenario="think", provider="fast")
    served.model, served.status, served.turn = "fast-model", 200, turn_key(request, kind_of(request))
    fast = config.resolve("fast,fast-model")
    assert fast is not None
    served.attempts = [Attempt(config.routes["think"], 503), Attempt(fast, 200)]  # think's target had failed
    pins(served)
    followup, headers = capture("tool_loop.followup", hints)
    chosen = decide(config, followup, headers, pins)
    assert (chosen.name, chosen.primary.label, chosen.pinned) == ("think", "fast,fast-model", True)
    # The next prompt of the same session starts afresh: a new prompt id, or (without hint headers) a user message
    # that is not only tool results.
    next_prompt, next_headers = capture("tool_loop.followup", hints)
    next_prompt["messages"].append({"role": "user", "content": [{"type": "text", "text": "Now say bye."}]})
    if hints:
        next_headers["x-claude-code-prompt-id"] = "another-prompt"
    again = decide(config, next_prompt, next_headers, pins)
    assert (again.name, again.primary.label, again.pinned) == ("default", "p,default", False)


def test_subagents_pin_apart_from_their_main_turn() -> None:
    explore, headers = capture("explore_agent", hints=True)
    main, main_headers = capture("explore_agent.main", hints=True)
    explore_request, main_request = MessagesRequest(explore, headers), MessagesRequest(main, main_headers)
    assert explore_request.hints.prompt_id == main_request.hints.prompt_id  # one prompt, two turns
    assert turn_key(explore_request, kind_of(explore_request)) != turn_key(main_request, kind_of(main_request))
    for name in ("title_chore", "compaction"):  # chores and compaction never pin
        body, chore_headers = capture(name, hints=True)
        chore = MessagesRequest(body, chore_headers)
        assert turn_key(chore, kind_of(chore)) is None


def test_model_discovery_is_what_claude_code_asked_for() -> None:
    meta = json.loads((CAPTURES / "model_discovery.headers.json").read_text(encoding="utf-8"))
    assert (meta["method"], meta["path"]) == ("GET", "/v1/models?limit=1000")
