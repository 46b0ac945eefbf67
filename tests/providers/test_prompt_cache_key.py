"""A stable per-session cache key goes to the providers that route by one (OpenAI's `prompt_cache_key`), and only
to them: other OpenAI-compatible servers may refuse a field they do not know."""

from __future__ import annotations

import orjson
import pytest

from ccrouter.config.model import Provider, Target
from ccrouter.gateway.request import MessagesRequest
from ccrouter.providers.base import RequestContext
from ccrouter.providers.openai_chat.adapter import OpenAIChatAdapter
from ccrouter.providers.openai_responses.adapter import ResponsesAdapter

BODY = {"model": "claude-opus-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def _ctx(provider: Provider, cache_key: str | None) -> RequestContext:
    return RequestContext("req-1", Target(provider, "gpt-5"), False, 3, {}, cache_key)


def test_the_key_is_stable_per_session_and_does_not_show_the_session_id() -> None:
    session = "0b5e7a9c-1111-4222-8333-944445555666"
    one = MessagesRequest(dict(BODY), {"x-claude-code-session-id": session}).cache_key
    again = MessagesRequest(dict(BODY), {"x-claude-code-session-id": session}).cache_key
    other = MessagesRequest(dict(BODY), {"x-claude-code-session-id": "another"}).cache_key
    assert one == again and one != other and one is not None and session not in one
    assert MessagesRequest(dict(BODY), {}).cache_key is None


@pytest.mark.parametrize(
    ("url", "sent"),
    [("https://api.openai.com/v1/chat/completions", True), ("https://api.deepseek.com/chat/completions", False)],
)
def test_openai_chat_sends_it_to_openai_only(url: str, sent: bool) -> None:
    provider = Provider("p", url, "sk-test-123456789", ("gpt-5",))
    body = orjson.loads(OpenAIChatAdapter(provider).build_request(dict(BODY), _ctx(provider, "ccr-abc")).body)
    assert (body.get("prompt_cache_key") == "ccr-abc") is sent and ("prompt_cache_key" in body) is sent
    without = orjson.loads(OpenAIChatAdapter(provider).build_request(dict(BODY), _ctx(provider, None)).body)
    assert "prompt_cache_key" not in without


def test_openai_responses_sends_it() -> None:
    provider = Provider("o", "https://api.openai.com/v1/responses", "sk-test-123456789", ("gpt-5",))
    body = orjson.loads(ResponsesAdapter(provider, "gpt-5").build_request(dict(BODY), _ctx(provider, "ccr-abc")).body)
    assert body["prompt_cache_key"] == "ccr-abc"
