"""The OpenAI chat adapter as the gateway uses it: URL, headers, body, replies, streams and error text."""

from __future__ import annotations

import orjson
import pytest

from ccrouter.config.model import Provider, Target
from ccrouter.errors import UpstreamError
from ccrouter.providers.base import Adapter, RequestContext, StreamTranslator, Usage
from ccrouter.providers.openai_chat.adapter import OpenAIChatAdapter, chat_completions_url
from tests.support.fixture_cases import counter_ids, decode_events


def _provider(url: str = "https://api.deepseek.com/chat/completions", key: str | None = "sk-secret-123456") -> Provider:
    return Provider(name="deepseek", api_base_url=url, api_key=key, models=("deepseek-chat",))


def _ctx(provider: Provider, stream: bool = False) -> RequestContext:
    return RequestContext("req-1", Target(provider, "deepseek-chat"), stream, input_tokens=321)


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://api.deepseek.com/chat/completions", "https://api.deepseek.com/chat/completions"),
        ("https://api.deepseek.com/chat/completions/", "https://api.deepseek.com/chat/completions"),
        ("https://openrouter.ai/api/v1/chat/completions", "https://openrouter.ai/api/v1/chat/completions"),
        ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1/chat/completions"),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions"),
        ("https://api.deepseek.com", "https://api.deepseek.com/v1/chat/completions"),
        ("http://localhost:11434/", "http://localhost:11434/v1/chat/completions"),
        (
            "https://generativelanguage.googleapis.com/v1beta/openai",
            "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
        ),
        (
            "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21",
            "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21",
        ),
    ],
)
def test_chat_completions_url(base: str, url: str) -> None:
    assert chat_completions_url(base) == url


def test_build_request() -> None:
    provider = _provider()
    adapter: Adapter = OpenAIChatAdapter(provider)
    body = {"model": "claude-sonnet-5-5", "max_tokens": 10, "metadata": {"user_id": "u"}, "messages": []}
    request = adapter.build_request(body, _ctx(provider))
    assert request.url == "https://api.deepseek.com/chat/completions"
    assert dict(request.headers) == {"content-type": "application/json", "authorization": "Bearer sk-secret-123456"}
    assert orjson.loads(request.body) == {"model": "deepseek-chat", "messages": [], "max_tokens": 10}


def test_build_request_without_key_sends_no_authorization() -> None:
    provider = _provider("http://127.0.0.1:11434/v1", key=None)
    request = OpenAIChatAdapter(provider).build_request({"messages": []}, _ctx(provider))
    assert dict(request.headers) == {"content-type": "application/json"}
    assert request.url == "http://127.0.0.1:11434/v1/chat/completions"


def test_reasoning_echo_can_be_turned_off() -> None:
    provider = _provider()
    body = {"messages": [{"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}]}]}
    on = orjson.loads(OpenAIChatAdapter(provider).build_request(body, _ctx(provider)).body)
    off = orjson.loads(OpenAIChatAdapter(provider, reasoning_echo=False).build_request(body, _ctx(provider)).body)
    assert on["messages"] == [{"role": "assistant", "content": "", "reasoning_content": "t"}]
    assert off["messages"] == [{"role": "assistant", "content": ""}]


def test_parse_reply() -> None:
    provider = _provider()
    payload = orjson.dumps(
        {
            "id": "abc",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 20}},
        }
    )
    reply = OpenAIChatAdapter(provider).parse_reply(payload, _ctx(provider))
    assert orjson.loads(reply.body) == {
        "id": "msg_abc",
        "type": "message",
        "role": "assistant",
        "model": "deepseek-chat",
        "content": [{"type": "text", "text": "Hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 30,
            "output_tokens": 2,
            "cache_read_input_tokens": 20,
            "cache_creation_input_tokens": 0,
        },
    }
    assert reply.usage == Usage(30, 2, 20, 0)
    assert reply.stop_reason == "end_turn"


def test_parse_reply_without_usage_reports_estimates() -> None:
    provider = _provider()
    payload = b'{"choices":[{"message":{"content":"x"},"finish_reason":"stop"}]}'
    reply = OpenAIChatAdapter(provider, make_id=counter_ids()).parse_reply(payload, _ctx(provider))
    assert reply.usage == Usage(321, 1, 0, 0)  # input: the estimate; output: "x" counted, as the provider said nothing
    assert orjson.loads(reply.body)["id"] == "msg_gen0001"


@pytest.mark.parametrize(
    ("payload", "status", "error_type", "message"),
    [
        (b"<html>bad gateway</html>", 502, "api_error", "The provider's reply is not a JSON object. Try again."),
        (b"[1, 2]", 502, "api_error", "The provider's reply is not a JSON object. Try again."),
        (
            b'{"error": {"message": "Rate limit exceeded", "code": 429}}',
            429,
            "rate_limit_error",
            "Rate limit exceeded",
        ),
        (b'{"error": {"message": "No endpoints found", "code": "x"}}', 502, "api_error", "No endpoints found"),
    ],
)
def test_parse_reply_failures(payload: bytes, status: int, error_type: str, message: str) -> None:
    provider = _provider()
    with pytest.raises(UpstreamError) as caught:
        OpenAIChatAdapter(provider).parse_reply(payload, _ctx(provider))
    assert (caught.value.status, caught.value.error_type, caught.value.message) == (status, error_type, message)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"error": {"message": "Model Not Exist", "type": "invalid_request_error"}}', "Model Not Exist"),
        (b'{"error": "model \\"x\\" not found"}', 'model "x" not found'),
        (b'{"message": "Unauthorized"}', "Unauthorized"),
        (b'{"detail": "Not Found"}', "Not Found"),
        (b"upstream connect error", "upstream connect error"),
        (b"", "(empty response body)"),
        (b"x" * 2000, "x" * 500),
        (
            b'{"error": {"message": "Incorrect API key provided: sk-secret-123456."}}',
            "Incorrect API key provided: [redacted].",
        ),
    ],
)
def test_error_message(payload: bytes, message: str) -> None:
    assert OpenAIChatAdapter(_provider()).error_message(400, payload) == message


def test_stream_translator_end_to_end() -> None:
    provider = _provider()
    translator: StreamTranslator = OpenAIChatAdapter(provider, make_id=counter_ids()).stream_translator(
        _ctx(provider, stream=True)
    )
    raw = (
        b'data: {"id":"s","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n'
        b'data: {"id":"s","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n'
        b'data: {"id":"s","choices":[],"usage":{"prompt_tokens":400,"completion_tokens":2}}\n\n'
        b"data: [DONE]\n\n"
    )
    out = translator.feed(raw[:50]) + translator.feed(raw[50:]) + translator.finish()
    events = decode_events(out)
    assert [e["event"] for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",  # "Hel" and "lo" arrived in one read: joined into one delta
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[2]["data"]["delta"] == {"type": "text_delta", "text": "Hello"}
    assert events[0]["data"]["message"]["model"] == "deepseek-chat"
    assert events[0]["data"]["message"]["usage"]["input_tokens"] == 321
    assert events[4]["data"]["usage"] == {"output_tokens": 2, "input_tokens": 400, "cache_read_input_tokens": 0}
    assert translator.usage == Usage(400, 2, 0, 0)
    assert translator.stop_reason == "end_turn"
