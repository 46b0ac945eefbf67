"""The Anthropic-format passthrough: the body as it came but for the model, and for what only Anthropic takes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ccrouter.config.model import Provider, Target
from ccrouter.providers.anthropic import AnthropicAdapter
from ccrouter.providers.base import RequestContext

BODY: dict[str, Any] = {
    "model": "claude-opus-5-5",
    "max_tokens": 5,
    "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "system", "content": "# Environment\n - Primary working directory: /w"},
        {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
        {"role": "system", "content": [{"type": "text", "text": "Plan mode is active."}]},
        {"role": "user", "content": "go on"},
    ],
}


def forwarded(url: str) -> dict[str, Any]:
    provider = Provider("a", url, "sk-ant-test-123456789", ("m",))
    request = AnthropicAdapter(provider).build_request(BODY, RequestContext("r", Target(provider, "m"), False, 1))
    return dict(orjson.loads(request.body))


def test_anthropic_itself_gets_claude_codes_system_messages_as_they_are() -> None:
    assert forwarded("https://api.anthropic.com/v1/messages") == {**BODY, "model": "m"}


@pytest.mark.parametrize("url", ["https://api.deepseek.com/anthropic", "http://127.0.0.1:8080/v1/messages"])
def test_other_anthropic_format_servers_get_them_in_the_system_prompt(url: str) -> None:
    body = forwarded(url)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["system"] == [
        *BODY["system"],
        {"type": "text", "text": "# Environment\n - Primary working directory: /w"},
        {"type": "text", "text": "Plan mode is active."},
    ]
    assert BODY["messages"][1]["role"] == "system"  # the client's body is untouched, for a fallback target
