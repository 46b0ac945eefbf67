"""The real Claude Code CLI (2.1.332, print mode) through ccrouter, with a different scripted provider model behind
every route, with Claude Code's gateway hint headers on (as `ccr code` runs it) and off: each kind of request goes
where it should, and the body alone tells the router as much as the headers do.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.claude_cli import require_claude, run_claude
from tests.support.fake_upstream import (
    Received,
    Scripted,
    ScriptedUpstream,
    error_reply,
    openai_text_reply,
    openai_tool_call_stream,
    openai_tool_messages,
    openai_tool_names,
)
from tests.support.router_process import RouterProcess
from tests.support.router_setup import StartRouter

ROUTED = ("default", "background", "think", "subagent", "compaction", "explore", "plan", "backup")
TAG = "<CCR-SUBAGENT-MODEL>fast,fast-model</CCR-SUBAGENT-MODEL>"
HINTS = {"CLAUDE_CODE_GATEWAY_HINT_HEADERS": "1"}


class Script:
    """The provider behind every route: main turns may start one subagent or one Bash call; everything else
    answers with text naming the model that served it. `fail_first` makes the default model's first request a 503."""

    def __init__(self, agent_type: str | None = None, bash: str | None = None, fail_first: bool = False) -> None:
        self.agent_type, self.bash, self.fail_first = agent_type, bash, fail_first
        self._lock = threading.Lock()

    def __call__(self, received: Received) -> Scripted:
        body = received.body
        model, stream, tools = body["model"], bool(body.get("stream")), openai_tool_names(body)
        with self._lock:
            if self.fail_first and model == "default":
                self.fail_first = False
                return error_reply(503, {"error": {"message": "busy for a moment"}})
        called = openai_tool_messages(body) or any(m.get("tool_calls") for m in body["messages"])
        if self.agent_type and "Agent" in tools and not called:
            arguments = {"description": "Look around", "prompt": "List the files.", "subagent_type": self.agent_type}
            return openai_tool_call_stream("call_agent_1", "Agent", arguments)
        if self.bash and "Bash" in tools and not called:
            return openai_tool_call_stream("call_bash_1", "Bash", {"command": self.bash, "description": "Echo"})
        return openai_text_reply(f"Served by {model}.", stream)


def config(upstream: ScriptedUpstream, **router: Any) -> dict[str, Any]:
    url = f"{upstream.url}/v1/chat/completions"
    return {
        "Providers": [
            {"name": "p", "api_base_url": url, "api_key": "sk-p-123456789", "models": list(ROUTED)},
            {"name": "fast", "api_base_url": url, "api_key": "sk-f-123456789", "models": ["fast-model"]},
        ],
        "Router": {
            "default": "p,default",
            "background": "p,background",
            "think": "p,think",
            "subagent": "p,subagent",
            "compaction": "p,compaction",
            "agents": {"Explore": "p,explore", "Plan": "p,plan"},
            **router,
        },
        "fallback": {"default": ["p,backup"]},
    }


def claude(router: RouterProcess, tmp_path: Path, hints: bool, *args: str, **env: str) -> dict[str, Any]:
    home = tmp_path / "home"
    project = home / "project"
    project.mkdir(parents=True, exist_ok=True)
    extra = {**(HINTS if hints else {}), **env}
    result = run_claude([*args, "--output-format", "json"], router.url, home, extra, cwd=project)
    assert result.returncode == 0, result.stderr[-2000:]
    output: dict[str, Any] = json.loads(result.stdout)
    assert output["is_error"] is False, output
    return output


def routed(router: RouterProcess, count: int) -> list[tuple[str, str, str]]:
    """(request class, route, provider,model) of each /v1/messages request, in order."""
    records = router.wait_for_records(count, timeout=30)
    return [(r["request_class"], r["scenario"], f"{r['provider']},{r['model']}") for r in records]


def add_agent(tmp_path: Path, name: str, prompt: str) -> None:
    agents = tmp_path / "home" / ".claude" / "agents"
    agents.mkdir(parents=True, exist_ok=True)
    front = f"---\nname: {name}\ndescription: Lists files. Use it to list files.\n---\n"
    (agents / f"{name}.md").write_text(front + prompt, encoding="utf-8")


both_ways = pytest.mark.parametrize("hints", [True, False], ids=["hint-headers", "body-only"])


@both_ways
@pytest.mark.parametrize(
    ("args", "env", "route"),
    [
        (["-p", "Say hello."], {}, "default"),
        (["-p", "Say hello."], {"ANTHROPIC_MODEL": "my-custom-model"}, "default"),  # effort "high" by default
        (["-p", "Say hello.", "--effort", "high"], {}, "think"),
        (["-p", "ultrathink: say hello."], {}, "think"),
        (["-p", "Say hello.", "--permission-mode", "plan"], {}, "think"),
    ],
    ids=["plain", "unknown-model-id", "effort-high", "ultrathink", "plan-mode"],
)
def test_main_turns_go_to_default_unless_the_user_asks_for_more_reasoning(
    upstream: ScriptedUpstream,
    start_router: StartRouter,
    tmp_path: Path,
    hints: bool,
    args: list[str],
    env: dict[str, str],
    route: str,
) -> None:
    require_claude()
    upstream.default = Script()
    router = start_router(config(upstream))
    output = claude(router, tmp_path, hints, *args, **env)
    assert output["result"] == f"Served by {route}."
    assert routed(router, 1) == [("main", route, f"p,{route}")]


@both_ways
@pytest.mark.parametrize(
    ("agent", "prompt", "route", "target"),
    [
        ("Explore", None, "subagent:Explore", "p,explore"),
        ("lister", "You list files.\n", "subagent", "p,subagent"),
        ("tagged", f"{TAG}\nYou list files.\n", "subagent", "fast,fast-model"),
    ],
    ids=["explore", "custom-agent", "tagged-agent"],
)
def test_subagents_go_to_their_routes(
    upstream: ScriptedUpstream,
    start_router: StartRouter,
    tmp_path: Path,
    hints: bool,
    agent: str,
    prompt: str | None,
    route: str,
    target: str,
) -> None:
    require_claude()
    if prompt is not None:
        add_agent(tmp_path, agent, prompt)
    upstream.default = Script(agent_type=agent)
    router = start_router(config(upstream))
    claude(router, tmp_path, hints, "-p", f"Use the {agent} agent to list the files.")
    records = router.wait_for_records(3, timeout=30)
    subagents = [(r["scenario"], f"{r['provider']},{r['model']}") for r in records if r["request_class"] == "subagent"]
    assert subagents and set(subagents) == {(route, target)}
    assert {r["scenario"] for r in records if r["request_class"] == "main"} == {"default"}
    forwarded = json.dumps([r.body for r in upstream.received])
    assert "CCR-SUBAGENT-MODEL" not in forwarded  # the tag never reaches a provider
    if prompt is not None:
        assert "You list files." in forwarded  # the agent's own prompt does


@both_ways
def test_a_tag_in_the_prompt_or_a_tool_result_changes_nothing(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path, hints: bool
) -> None:
    require_claude()
    upstream.default = Script(bash=f"echo '{TAG}'")
    router = start_router(config(upstream))
    claude(router, tmp_path, hints, "-p", f"{TAG} Run the echo command with Bash.", "--allowedTools", "Bash")
    assert {route for _, route, _ in routed(router, 2)} == {"default"}
    assert all(r.body["model"] in ("default", "backup") for r in upstream.received)
    follow_up = [r.body for r in upstream.received if openai_tool_messages(r.body)]
    assert follow_up and TAG in openai_tool_messages(follow_up[-1])[-1]  # the tool's output is forwarded as it is


@both_ways
def test_every_request_of_one_tool_loop_goes_to_one_target(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path, hints: bool
) -> None:
    """The loop's first request finds default's target busy and falls back: the tool result that continues the
    turn stays on the fallback (its cache is warm), though default's target answers again by then."""
    require_claude()
    upstream.default = Script(bash="echo hi", fail_first=True)
    router = start_router(config(upstream))
    output = claude(router, tmp_path, hints, "-p", "Run echo hi with Bash.", "--allowedTools", "Bash")
    assert output["result"] == "Served by backup."
    records = router.wait_for_records(2, timeout=30)
    main = [r for r in records if r["request_class"] == "main"]
    assert [f"{r['provider']},{r['model']}" for r in main] == ["p,backup", "p,backup"]
    assert [a["target"] for a in main[0]["attempts"]] == ["p,default", "p,backup"]
    assert [r["pinned"] for r in main] == [False, True]
    assert [r.body["model"] for r in upstream.received] == ["default", "backup", "backup"]
