"""The OpenAI Responses adapter as the gateway uses it: URL, headers, body, replies, streams and error text."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ccrouter.config.loading import parse_config
from ccrouter.config.model import Provider, Target, TransformerUse
from ccrouter.errors import UpstreamError
from ccrouter.providers.base import Adapter, RequestContext, StreamTranslator, Usage
from ccrouter.providers.openai_responses.adapter import SUMMARY_HINT, ResponsesAdapter, responses_url
from ccrouter.providers.registry import make_adapter
from tests.support.fixture_cases import counter_ids, decode_events
from tests.support.responses_fakes import ResponsesStream, message_item, response_object, usage

KEY = "sk-secret-123456"


def _provider(
    url: str = "https://api.openai.com/v1/responses", key: str | None = KEY, options: dict[str, Any] | None = None
) -> Provider:
    return Provider(
        name="openai",
        api_base_url=url,
        api_key=key,
        models=("gpt-5",),
        transformers=(TransformerUse("openai-responses", options),),
    )


def _ctx(provider: Provider, stream: bool = False) -> RequestContext:
    return RequestContext("req-1", Target(provider, "gpt-5"), stream, input_tokens=321)


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://api.openai.com/v1/responses", "https://api.openai.com/v1/responses"),
        ("https://api.openai.com/v1/responses/", "https://api.openai.com/v1/responses"),
        ("https://api.openai.com/v1", "https://api.openai.com/v1/responses"),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1/responses"),
        ("https://api.openai.com", "https://api.openai.com/v1/responses"),
        ("https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1/responses"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1/responses"),
        ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1/responses"),
        (
            "https://x.openai.azure.com/openai/v1/responses?api-version=preview",
            "https://x.openai.azure.com/openai/v1/responses?api-version=preview",
        ),
    ],
)
def test_responses_url(base: str, url: str) -> None:
    assert responses_url(base) == url


def test_the_registry_picks_this_adapter() -> None:
    config = parse_config(
        """{
          Providers: [{name: "openai", api_base_url: "https://api.openai.com/v1/responses", api_key: "k",
                       models: ["gpt-5", "gpt-4.1"], transformer: {"gpt-5": {use: ["openai-responses"]}}}],
          Router: {default: "openai,gpt-5"},
        }""",
        {},
    )
    provider = config.provider("openai")
    assert provider is not None
    adapter: Adapter = make_adapter(provider, "gpt-5")
    assert isinstance(adapter, ResponsesAdapter) and adapter.credentials is None
    assert not isinstance(make_adapter(provider, "gpt-4.1"), ResponsesAdapter)


def test_build_request() -> None:
    provider = _provider()
    body = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 100,
        "metadata": {"user_id": "u"},
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    request = ResponsesAdapter(provider, "gpt-5").build_request(body, _ctx(provider, stream=True))
    assert request.url == "https://api.openai.com/v1/responses"
    assert dict(request.headers) == {"content-type": "application/json", "authorization": "Bearer " + KEY}
    assert orjson.loads(request.body) == {
        "model": "gpt-5",
        "input": [{"type": "message", "role": "user", "content": "hi"}],
        "max_output_tokens": 100,
        "store": False,
        "stream": True,
    }


def test_build_request_without_key_sends_no_authorization() -> None:
    provider = _provider("http://127.0.0.1:8000/v1", key=None)
    request = ResponsesAdapter(provider, "gpt-5").build_request({"messages": []}, _ctx(provider))
    assert dict(request.headers) == {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("options", "reasoning"),
    [
        (None, {"effort": "medium", "summary": "auto"}),
        ({"reasoning_summary": "detailed"}, {"effort": "medium", "summary": "detailed"}),
        ({"reasoning_summary": "none"}, {"effort": "medium"}),
        ({"reasoning_summary": False}, {"effort": "medium"}),
    ],
)
def test_reasoning_summary_option(options: dict[str, Any] | None, reasoning: dict[str, Any]) -> None:
    provider = _provider(options=options)
    body = {"thinking": {"type": "adaptive"}, "messages": []}
    request = ResponsesAdapter(provider, "gpt-5").build_request(body, _ctx(provider))
    assert orjson.loads(request.body)["reasoning"] == reasoning


def test_parse_reply() -> None:
    provider = _provider()
    payload = orjson.dumps(response_object([message_item("Hi")], usage_=usage(50, 2, cached=20)))
    reply = ResponsesAdapter(provider, "gpt-5").parse_reply(payload, _ctx(provider))
    assert orjson.loads(reply.body) == {
        "id": "msg_resp_fake",
        "type": "message",
        "role": "assistant",
        "model": "gpt-5",
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


def test_parse_reply_without_usage_reports_the_estimate() -> None:
    provider = _provider()
    payload = b'{"output":[{"type":"message","content":[{"type":"output_text","text":"x"}]}]}'
    reply = ResponsesAdapter(provider, "gpt-5", make_id=counter_ids()).parse_reply(payload, _ctx(provider))
    assert reply.usage == Usage(321, 0, 0, 0)
    assert orjson.loads(reply.body)["id"] == "msg_gen0001"


@pytest.mark.parametrize(
    ("payload", "status", "error_type", "message"),
    [
        (b"<html>bad gateway</html>", 502, "api_error", "The provider's reply is not a JSON object. Try again."),
        (b"[1, 2]", 502, "api_error", "The provider's reply is not a JSON object. Try again."),
        (
            orjson.dumps(
                response_object([], status="failed", error={"code": "server_error", "message": "Model crashed."})
            ),
            502,
            "api_error",
            "The provider could not complete the response: Model crashed. (server_error)",
        ),
        (
            b'{"error": {"message": "Slow down", "code": "rate_limit_exceeded"}}',
            429,
            "rate_limit_error",
            "The provider could not complete the response: Slow down (rate_limit_exceeded)",
        ),
        (
            b'{"status": "failed", "error": {"message": "Bad image", "code": "invalid_image"}}',
            400,
            "invalid_request_error",
            "The provider could not complete the response: Bad image (invalid_image)",
        ),
        (
            b'{"error": {"message": "key sk-secret-123456 is wrong"}}',
            502,
            "api_error",
            "The provider could not complete the response: key [redacted] is wrong",
        ),
    ],
)
def test_parse_reply_failures(payload: bytes, status: int, error_type: str, message: str) -> None:
    provider = _provider()
    with pytest.raises(UpstreamError) as caught:
        ResponsesAdapter(provider, "gpt-5").parse_reply(payload, _ctx(provider))
    assert (caught.value.status, caught.value.error_type, caught.value.message) == (status, error_type, message)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            b'{"error": {"message": "The model `gpt-6` does not exist.", "type": "invalid_request_error", '
            b'"param": null, "code": "model_not_found"}}',
            "The model `gpt-6` does not exist.",
        ),
        (
            b'{"error": {"message": "Incorrect API key provided: sk-secret-123456."}}',
            "Incorrect API key provided: [redacted].",
        ),
        (b"upstream connect error", "upstream connect error"),
        (b"", "(empty response body)"),
    ],
)
def test_error_message(payload: bytes, message: str) -> None:
    assert ResponsesAdapter(_provider(), "gpt-5").error_message(400, payload) == message


def test_error_message_says_how_to_do_without_reasoning_summaries() -> None:
    payload = orjson.dumps(
        {
            "error": {
                "message": "Your organization must be verified to generate reasoning summaries. Please go to: "
                "https://platform.openai.com/settings/organization/general and click on Verify Organization.",
                "type": "invalid_request_error",
                "param": "reasoning.summary",
                "code": "unsupported_value",
            }
        }
    )
    message = ResponsesAdapter(_provider(), "gpt-5").error_message(400, payload)
    assert message.startswith("Your organization must be verified")
    assert message.endswith(SUMMARY_HINT) and '{"reasoning_summary": "none"}' in message


def test_stream_translator_end_to_end() -> None:
    provider = _provider()
    translator: StreamTranslator = ResponsesAdapter(provider, "gpt-5", make_id=counter_ids()).stream_translator(
        _ctx(provider, stream=True)
    )
    raw = ResponsesStream("resp_x").created().text("Hello", count=2).completed(usage(400, 2)).sse()
    out = translator.feed(raw[:300]) + translator.feed(raw[300:]) + translator.finish()
    events = decode_events(out)
    assert [e["event"] for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[2]["data"]["delta"] == {"type": "text_delta", "text": "Hello"}
    assert events[0]["data"]["message"]["model"] == "gpt-5"
    assert events[0]["data"]["message"]["id"] == "msg_resp_x"
    assert events[0]["data"]["message"]["usage"]["input_tokens"] == 321
    assert events[4]["data"]["usage"] == {"output_tokens": 2, "input_tokens": 400, "cache_read_input_tokens": 0}
    assert translator.usage == Usage(400, 2, 0, 0)
    assert translator.stop_reason == "end_turn"


def test_stream_errors_do_not_repeat_the_key() -> None:
    provider = _provider()
    translator = ResponsesAdapter(provider, "gpt-5").stream_translator(_ctx(provider, stream=True))
    raw = ResponsesStream().created().event("error", code=None, message=f"Bad key {KEY}.", param=None).sse()
    events = decode_events(translator.feed(raw) + translator.finish())
    assert events[-1] == {
        "event": "error",
        "data": {
            "type": "error",
            "error": {"type": "api_error", "message": "The provider sent an error in its stream: Bad key [redacted]."},
        },
    }
