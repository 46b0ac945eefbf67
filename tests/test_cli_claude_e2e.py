"""`ccr code` with the real Claude Code CLI, through the router, to a scripted OpenAI-format provider.

The provider first asks for a Bash tool call, then (once the tool result comes back as a `role: "tool"` message)
answers with the final text. Claude Code's other calls, if any, get a short text answer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ccr_cli_harness import CcrHome, fake_provider_config
from tests.claude_cli import claude_env, find_claude
from tests.harness.fake_upstream import Received, Scripted, ScriptedUpstream, json_reply, sse_reply

MARKER = "ccr-tool-ran"
FINAL_TEXT = f"All done: {MARKER}"


@pytest.fixture
def ccr(tmp_path: Path) -> Iterator[CcrHome]:
    home = CcrHome(tmp_path)
    yield home
    home.cleanup()


def _claude_binary() -> Path:
    binary = find_claude()
    if binary is None:
        message = "the Claude Code CLI is not installed (npm install @anthropic-ai/claude-code@2.1.332)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-ccr-test",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


_USAGE = {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}


def _text_reply(text: str, stream: bool) -> Scripted:
    if not stream:
        return json_reply(
            {
                "id": "chatcmpl-ccr-test",
                "object": "chat.completion",
                "created": 1700000000,
                "model": "fake-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": _USAGE,
            }
        )
    half = len(text) // 2
    return sse_reply(
        [
            _chunk({"role": "assistant", "content": text[:half]}),
            _chunk({"content": text[half:]}),
            _chunk({}, "stop"),
            {**_chunk({}), "choices": [], "usage": _USAGE},
        ]
    )


def _bash_call_reply(stream: bool) -> Scripted:
    arguments = json.dumps({"command": f"echo {MARKER}", "description": "Print a marker"})
    call = {"id": "call_ccr_1", "type": "function", "function": {"name": "Bash", "arguments": arguments}}
    if not stream:
        return json_reply(
            {
                "id": "chatcmpl-ccr-test",
                "object": "chat.completion",
                "created": 1700000000,
                "model": "fake-model",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": _USAGE,
            }
        )
    cut = len(arguments) // 2
    return sse_reply(
        [
            _chunk(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": "Bash", "arguments": ""},
                        }
                    ],
                }
            ),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[:cut]}}]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[cut:]}}]}),
            _chunk({}, "tool_calls"),
            {**_chunk({}), "choices": [], "usage": _USAGE},
        ]
    )


def _tool_messages(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    texts = []
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "tool":
            content = message.get("content")
            texts.append(content if isinstance(content, str) else json.dumps(content))
    return texts


def _is_main_conversation(body: Any) -> bool:
    tools = body.get("tools") if isinstance(body, dict) else None
    return any(isinstance(t, dict) and (t.get("function") or {}).get("name") == "Bash" for t in tools or [])


def _provider(received: Received) -> Scripted:
    body = received.body
    stream = bool(isinstance(body, dict) and body.get("stream"))
    if any(MARKER in text for text in _tool_messages(body)):
        return _text_reply(FINAL_TEXT, stream)
    if _is_main_conversation(body):
        return _bash_call_reply(stream)
    return _text_reply("ok", stream)


def test_claude_code_runs_a_tool_loop_through_ccr(ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path) -> None:
    claude = _claude_binary()
    upstream.default = _provider
    ccr.write_config(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(claude)))
    home = tmp_path / "user-home"
    home.mkdir()
    env = claude_env("http://unused.invalid", home, {"CCR_HOME": str(ccr.home)})
    for key in ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "NO_PROXY", "no_proxy"):
        env.pop(key, None)  # `ccr code` must provide these
    env["ANTHROPIC_API_KEY"] = "sk-ant-must-not-be-used"

    result = ccr.run(
        "code",
        "-p",
        "run the echo",
        "--allowedTools",
        "Bash",
        "--output-format",
        "json",
        env=env,
        cwd=home,
        timeout=240,
    )

    details = f"exit {result.returncode}\nstdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}"
    assert result.returncode == 0, details
    output = json.loads(result.stdout)
    assert FINAL_TEXT in output["result"], details
    assert output.get("is_error") is False, details
    tool_results = [text for r in upstream.received for text in _tool_messages(r.body)]
    assert any(MARKER in text for text in tool_results), [r.body for r in upstream.received]
    # The provider got the router's provider key, never the user's Anthropic key.
    for r in upstream.received:
        assert "sk-ant-must-not-be-used" not in json.dumps(r.headers)
    assert ccr.pid_info() is not None  # `ccr code` started the service
