"""A Messages request parsed once: the checks on its body, and the facts read from it (session, project, hints)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from ccrouter.errors import BadRequest
from ccrouter.gateway.request import ClaudeCodeHints, MessagesRequest, session_id_of

FIXTURES = Path(__file__).parent.parent / "fixtures" / "claude_code"


def raw(**fields: object) -> bytes:
    return orjson.dumps({"model": "claude-sonnet-5-5", "messages": [{"role": "user", "content": "hi"}], **fields})


def test_the_request_value() -> None:
    request = MessagesRequest.parse(raw(stream=True), {"x-claude-code-session-id": "s-1"})
    assert (request.model, request.stream, request.session_id, request.project) == (
        "claude-sonnet-5-5",
        True,
        "s-1",
        None,
    )
    assert request.hints == ClaudeCodeHints()
    assert MessagesRequest.parse(raw(), {}).stream is False


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        (b"{nope", "not valid JSON"),
        (b"[1]", "must be a JSON object"),
        (orjson.dumps({"messages": []}), "model: this field is required"),
        (orjson.dumps({"model": "m"}), "messages: this field is required"),
        (orjson.dumps({"model": "m", "messages": [{"role": "tool", "content": "x"}]}), "messages.0:"),
        (orjson.dumps({"model": "m", "messages": [{"role": "user", "content": 3}]}), "messages.0.content"),
        (raw(max_tokens="10"), "max_tokens: must be a whole number"),
        (raw(stream="yes"), "stream: must be true or false"),
    ],
)
def test_bad_bodies_say_what_is_wrong(body: bytes, phrase: str) -> None:
    with pytest.raises(BadRequest) as raised:
        MessagesRequest.parse(body, {})
    assert phrase in raised.value.message and raised.value.status == 400


def test_session_id_sources() -> None:
    new_style = {"metadata": {"user_id": json.dumps({"device_id": "d", "session_id": "abc-123"})}}
    assert session_id_of(new_style, {}) == "abc-123"
    old_style = {"metadata": {"user_id": "user_deadbeef_account__session_9f8e7d"}}
    assert session_id_of(old_style, {}) == "9f8e7d"
    assert session_id_of({}, {"x-claude-code-session-id": "hdr-1"}) == "hdr-1"
    assert session_id_of({"metadata": {"user_id": "{not json"}}, {}) is None


def test_a_real_claude_code_request_names_its_session_and_project() -> None:
    body = (FIXTURES / "interactive_turn.json").read_bytes()
    request = MessagesRequest.parse(body, {})
    assert request.session_id == "025ba0bd-daa8-4ea9-8e62-21355bc6ac70"
    assert request.project == "/tmp/cc-capture-0ret04ia/interactive/home/project"


def test_the_project_from_an_older_system_prompt() -> None:
    system = "You are Claude Code.\n<env>\nWorking directory: /home/me/app\nIs directory a git repo: Yes\n</env>"
    assert MessagesRequest.parse(raw(system=system), {}).project == "/home/me/app"


def test_claude_code_hint_headers_are_carried() -> None:
    headers = {
        "x-claude-code-request-class": "subagent",
        "x-claude-code-agent-type": "Explore",
        "x-claude-code-agent-id": "a-1",
        "x-claude-code-prompt-id": "p-1",
        "x-claude-code-compaction": "true",
    }
    hints = MessagesRequest.parse(raw(), headers).hints
    assert hints == ClaudeCodeHints("subagent", "Explore", "a-1", "p-1", "true")


@pytest.mark.parametrize(
    ("name", "hints"),
    [
        ("compaction", ClaudeCodeHints(request_class="compaction", compaction="manual")),
        (
            "explore_agent",
            ClaudeCodeHints("subagent", "Explore", "a8a2a14aaf7d77a3f", "5e9eb164-34b4-4a81-9e93-27d31490f39f"),
        ),
    ],
)
def test_real_captures_carry_their_hints_session_and_project(name: str, hints: ClaudeCodeHints) -> None:
    routing = FIXTURES / "routing"
    captured = json.loads((routing / f"{name}.headers.json").read_text())["headers"]
    headers = {key.lower(): value for key, value in captured.items()}
    request = MessagesRequest.parse((routing / f"{name}.json").read_bytes(), headers)
    if hints.prompt_id is None:  # the prompt id changes with every capture: compare the rest
        hints = ClaudeCodeHints(
            hints.request_class, hints.agent_type, hints.agent_id, request.hints.prompt_id, hints.compaction
        )
    assert request.hints == hints
    assert request.session_id == headers["x-claude-code-session-id"]
    assert request.project is not None and request.project.endswith("/home/project")
