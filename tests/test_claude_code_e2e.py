"""The real Claude Code CLI (2.1.332) in print mode, through ccrouter, to an OpenAI-compatible provider.

The provider first answers with a Bash tool call; Claude Code runs the tool and sends the result back; the
provider then answers with text that quotes the tool's output, and Claude Code prints it and exits 0.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.claude_cli import find_claude, run_claude
from tests.conftest import StartRouter, openai_provider
from tests.harness.fake_upstream import (
    Received,
    Scripted,
    ScriptedUpstream,
    openai_completion,
    openai_text_stream,
    openai_tool_call_stream,
)

MARKER = "ccr-e2e-marker-7731"


def claude_binary() -> Path:
    binary = find_claude()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("the Claude Code CLI is not installed; scripts/test.sh installs it with npm")
        pytest.skip("the Claude Code CLI is not installed (scripts/test.sh installs it)")
    return binary


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body.get("messages", []) if m.get("role") == "tool"]


def tool_names(body: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools", [])]


def tool_loop_provider(received: Received) -> Scripted:
    body = received.body
    tools = tool_names(body)
    if tool_messages(body):
        output = tool_messages(body)[-1]["content"]
        return openai_text_stream(f"All done. The tool said: {output.strip()}")
    if "Bash" in tools:
        return openai_tool_call_stream("call_bash_1", "Bash", {"command": f"echo {MARKER}", "description": "Echo"})
    # Anything else Claude Code asks on the side (titles, probes): a short answer.
    return openai_text_stream("ok") if body.get("stream") else openai_completion("ok")


def test_claude_code_runs_a_tool_loop_through_ccrouter(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path
) -> None:
    claude_binary()
    upstream.default = tool_loop_provider
    router = start_router({"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}})
    home = tmp_path / "home"
    home.mkdir()
    result = run_claude(
        ["-p", "Run the echo command with Bash", "--allowedTools", "Bash", "--output-format", "json"],
        base_url=router.url,
        home=home,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["is_error"] is False
    assert f"All done. The tool said: {MARKER}" in output["result"]
    main_turns = [r.body for r in upstream.received if "Bash" in tool_names(r.body)]
    assert len(main_turns) >= 2
    follow_up = tool_messages(main_turns[-1])
    assert follow_up and follow_up[-1]["tool_call_id"] == "call_bash_1" and MARKER in follow_up[-1]["content"]
    assert main_turns[-1]["model"] == "fake-model"
    records = router.wait_for_records(len(upstream.received))
    assert {r["status"] for r in records} == {200}
    assert all(r["session_id"] for r in records)
