"""The Gemini and Vertex Gemini adapters as the gateway uses them: URLs, headers, replies, streams, errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from ccrouter.config.model import Provider, Target, TransformerUse
from ccrouter.errors import UpstreamError
from ccrouter.providers.anthropic import without_synthetic_thinking
from ccrouter.providers.base import SYNTHETIC_THINKING_SIGNATURE, Adapter, RequestContext, StreamTranslator, Usage
from ccrouter.providers.gemini.adapter import GeminiAdapter, gemini_error_text, method_url, models_url
from ccrouter.providers.gemini.response import GEMINI_SIGNATURE_PREFIX, GEMINI_UNSIGNED
from ccrouter.providers.gemini.vertex import VertexGeminiAdapter, vertex_models_url
from ccrouter.providers.gemini.vertex_auth import ACCESS_TOKEN_ENV, CREDENTIALS_ENV, BrokenCredentials, StaticToken
from ccrouter.providers.registry import make_adapter
from tests.support.fixture_cases import counter_ids, decode_events
from tests.support.gemini_fakes import new_rsa_key, write_service_account

KEY = "AIzaSy-secret-key-123456"


def gemini_provider(
    url: str = "https://generativelanguage.googleapis.com/v1beta/models/", key: str | None = KEY
) -> Provider:
    return Provider(
        name="gemini",
        api_base_url=url,
        api_key=key,
        models=("gemini-2.5-pro",),
        transformers=(TransformerUse("gemini"),),
    )


def vertex_provider(url: str = "https://us-central1-aiplatform.googleapis.com", **options: Any) -> Provider:
    return Provider(
        name="vx",
        api_base_url=url,
        api_key="dummy",
        models=("gemini-2.5-pro",),
        transformers=(TransformerUse("vertex-gemini", options or None),),
    )


def ctx(provider: Provider, stream: bool = False, model: str = "gemini-2.5-pro") -> RequestContext:
    return RequestContext("req-1", Target(provider, model), stream, input_tokens=321)


@pytest.mark.parametrize(
    ("base", "prefix"),
    [
        (
            "https://generativelanguage.googleapis.com/v1beta/models/",
            "https://generativelanguage.googleapis.com/v1beta/models/",
        ),
        (
            "https://generativelanguage.googleapis.com/v1beta/models",
            "https://generativelanguage.googleapis.com/v1beta/models/",
        ),
        (
            "https://generativelanguage.googleapis.com/v1beta/",
            "https://generativelanguage.googleapis.com/v1beta/models/",
        ),
        ("https://generativelanguage.googleapis.com/v1", "https://generativelanguage.googleapis.com/v1/models/"),
        ("https://generativelanguage.googleapis.com", "https://generativelanguage.googleapis.com/v1beta/models/"),
        ("https://generativelanguage.googleapis.com/", "https://generativelanguage.googleapis.com/v1beta/models/"),
        (
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent",
            "https://generativelanguage.googleapis.com/v1beta/models/",
        ),
        ("http://127.0.0.1:9000/gemini", "http://127.0.0.1:9000/gemini/v1beta/models/"),
        ("https://proxy.example/google/v1alpha?key=abc", "https://proxy.example/google/v1alpha/models/?key=abc"),
    ],
)
def test_models_url(base: str, prefix: str) -> None:
    assert models_url(base) == prefix


def test_method_url() -> None:
    prefix = "https://g.test/v1beta/models/"
    assert method_url(prefix, "gemini-2.5-pro", False) == "https://g.test/v1beta/models/gemini-2.5-pro:generateContent"
    assert method_url(prefix, "models/gemini-2.5-pro", True) == (
        "https://g.test/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    )
    assert method_url("https://g.test/v1/models/?key=k", "m", True) == (
        "https://g.test/v1/models/m:streamGenerateContent?key=k&alt=sse"
    )
    assert method_url(prefix, "a b/c", False) == "https://g.test/v1beta/models/a%20b%2Fc:generateContent"


def test_registry_builds_both_adapters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ACCESS_TOKEN_ENV, "ya29.env")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
    assert type(make_adapter(gemini_provider(), "gemini-2.5-pro")) is GeminiAdapter
    vertex = make_adapter(vertex_provider(), "gemini-2.5-pro")
    assert type(vertex) is VertexGeminiAdapter and isinstance(vertex.credentials.source(), StaticToken)
    assert GeminiAdapter.credentials is None


def test_build_request() -> None:
    provider = gemini_provider()
    adapter: Adapter = GeminiAdapter(provider, "gemini-2.5-pro")
    body = {"model": "claude-sonnet-5-5", "max_tokens": 10, "metadata": {"user_id": "u"}, "messages": []}
    request = adapter.build_request(body, ctx(provider))
    assert request.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent"
    assert dict(request.headers) == {"content-type": "application/json", "x-goog-api-key": KEY}
    assert orjson.loads(request.body) == {"contents": [], "generationConfig": {"maxOutputTokens": 10}}
    streamed = adapter.build_request({**body, "stream": True}, ctx(provider, stream=True))
    assert streamed.url.endswith("/models/gemini-2.5-pro:streamGenerateContent?alt=sse")
    assert b"stream" not in streamed.body


def test_build_request_without_key_sends_no_key_header() -> None:
    provider = gemini_provider("http://127.0.0.1:8080/v1beta/models/", key=None)
    request = GeminiAdapter(provider, "m").build_request({"messages": []}, ctx(provider, model="m"))
    assert dict(request.headers) == {"content-type": "application/json"}


def test_parse_reply() -> None:
    provider = gemini_provider()
    payload = orjson.dumps(
        {
            "candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 2, "cachedContentTokenCount": 20},
            "responseId": "abc",
        }
    )
    reply = GeminiAdapter(provider, "gemini-2.5-pro").parse_reply(payload, ctx(provider))
    assert orjson.loads(reply.body)["content"] == [{"type": "text", "text": "Hi"}]
    assert reply.usage == Usage(30, 2, 20, 0)
    assert reply.stop_reason == "end_turn"


def test_parse_reply_of_a_streamed_array() -> None:
    provider = gemini_provider()
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": "He"}]}}], "responseId": "r"},
        {
            "candidates": [{"content": {"parts": [{"text": "llo"}]}, "finishReason": "MAX_TOKENS"}],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4},
        },
    ]
    reply = GeminiAdapter(provider, "m", make_id=counter_ids()).parse_reply(orjson.dumps(chunks), ctx(provider))
    message = orjson.loads(reply.body)
    assert message["content"] == [{"type": "text", "text": "Hello"}]
    assert (message["id"], message["stop_reason"], reply.usage) == ("msg_r", "max_tokens", Usage(9, 4, 0, 0))


@pytest.mark.parametrize(
    ("payload", "status", "error_type", "message"),
    [
        (b"<html>bad gateway</html>", 502, "api_error", "The provider's reply is not a JSON object. Try again."),
        (
            b'{"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}',
            429,
            "rate_limit_error",
            "Resource has been exhausted (RESOURCE_EXHAUSTED)",
        ),
        (
            b'[{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}]',
            503,
            "overloaded_error",
            "overloaded (UNAVAILABLE)",
        ),
        (
            b'{"candidates": [{"content": {"parts": []}, "finishReason": "MALFORMED_FUNCTION_CALL"}]}',
            502,
            "api_error",
            "Gemini could not finish its answer (MALFORMED_FUNCTION_CALL). Try again.",
        ),
    ],
)
def test_parse_reply_failures(payload: bytes, status: int, error_type: str, message: str) -> None:
    provider = gemini_provider()
    with pytest.raises(UpstreamError) as caught:
        GeminiAdapter(provider, "m").parse_reply(payload, ctx(provider))
    assert (caught.value.status, caught.value.error_type, caught.value.message) == (status, error_type, message)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            b'{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", '
            b'"status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", '
            b'"reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}',
            "API key not valid. Please pass a valid API key. (INVALID_ARGUMENT) Check this provider's api_key in "
            "the config.",
        ),
        (
            b'{"error": {"code": 400, "message": "* GenerateContentRequest.tools[0].function_declarations[0]'
            b'.parameters.properties: should be non-empty for OBJECT type\\n", "status": "INVALID_ARGUMENT"}}',
            "* GenerateContentRequest.tools[0].function_declarations[0].parameters.properties: should be non-empty "
            "for OBJECT type (INVALID_ARGUMENT)",
        ),
        (
            b'{"error": {"code": 404, "message": "models/x is not found", "status": "NOT_FOUND"}}',
            "models/x is not found (NOT_FOUND)",
        ),
        (b'{"error": "plain"}', "plain"),
        (b"upstream connect error", "upstream connect error"),
        (b"", "(empty response body)"),
        (b'{"error": {"message": "bad key ' + KEY.encode() + b'"}}', "bad key [redacted]"),
    ],
)
def test_error_message(payload: bytes, message: str) -> None:
    assert GeminiAdapter(gemini_provider(), "m").error_message(400, payload) == message
    assert gemini_error_text(payload).replace(KEY, "[redacted]") == message


def test_stream_translator_end_to_end() -> None:
    provider = gemini_provider()
    translator: StreamTranslator = GeminiAdapter(provider, "gemini-2.5-pro", make_id=counter_ids()).stream_translator(
        ctx(provider, stream=True)
    )
    raw = (
        b'data: {"candidates":[{"content":{"parts":[{"text":"Hel"}]}}],"responseId":"s"}\r\n\r\n'
        b'data: {"candidates":[{"content":{"parts":[{"text":"lo"}]},"finishReason":"STOP"}],'
        b'"usageMetadata":{"promptTokenCount":400,"candidatesTokenCount":2}}\r\n\r\n'
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
    assert events[0]["data"]["message"]["usage"]["input_tokens"] == 321  # the estimate until Gemini says better
    assert events[0]["data"]["message"]["id"] == "msg_s"
    assert events[4]["data"]["usage"] == {"output_tokens": 2, "input_tokens": 400, "cache_read_input_tokens": 0}
    assert translator.usage == Usage(400, 2, 0, 0)
    assert translator.stop_reason == "end_turn"


# ---------------------------------------------------------------------------------------------------------
# Vertex


@pytest.mark.parametrize(
    ("base", "location", "prefix"),
    [
        (
            "https://us-central1-aiplatform.googleapis.com",
            "us-central1",
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google/models/",
        ),
        (
            "https://europe-west4-aiplatform.googleapis.com/v1beta1/",
            "europe-west4",
            "https://europe-west4-aiplatform.googleapis.com/v1beta1/projects/p/locations/europe-west4/publishers/google/models/",
        ),
        (
            "https://aiplatform.googleapis.com/v1/projects/other/locations/global",
            "global",
            "https://aiplatform.googleapis.com/v1/projects/other/locations/global/publishers/google/models/",
        ),
        (
            "https://x.test/v1/projects/q/locations/l/publishers/google/models/gemini-2.5-pro:generateContent",
            "l",
            "https://x.test/v1/projects/q/locations/l/publishers/google/models/",
        ),
        (
            "https://generativelanguage.googleapis.com/v1beta/models/",
            "global",
            "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/google/models/",
        ),
        ("http://127.0.0.1:9000", "l", "http://127.0.0.1:9000/v1/projects/p/locations/l/publishers/google/models/"),
    ],
)
def test_vertex_models_url(base: str, location: str, prefix: str) -> None:
    assert vertex_models_url(base, "p", location) == prefix


def test_vertex_request_uses_project_location_and_no_key(tmp_path: Path) -> None:
    key_file = write_service_account(tmp_path / "sa.json", new_rsa_key(), "https://t.test/token", "file-project")
    provider = vertex_provider()
    adapter = VertexGeminiAdapter(provider, "gemini-2.5-pro", env={CREDENTIALS_ENV: str(key_file)})
    assert (adapter.project, adapter.location) == ("file-project", "us-central1")
    request = adapter.build_request({"messages": [], "stream": True}, ctx(provider, stream=True))
    assert request.url == (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/file-project/locations/us-central1/publishers/"
        "google/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    )
    assert dict(request.headers) == {"content-type": "application/json"}


def test_vertex_settings_precedence(tmp_path: Path) -> None:
    key_file = write_service_account(tmp_path / "sa.json", new_rsa_key(), "https://t.test/token", "file-project")
    env = {
        CREDENTIALS_ENV: str(key_file),
        "GOOGLE_CLOUD_PROJECT": "env-project",
        "GOOGLE_CLOUD_LOCATION": "europe-west1",
    }
    adapter = VertexGeminiAdapter(vertex_provider(), "m", env=env)
    assert (adapter.project, adapter.location) == ("env-project", "europe-west1")
    with_options = VertexGeminiAdapter(vertex_provider(project="opt-project", region="asia-east1"), "m", env=env)
    assert (with_options.project, with_options.location) == ("opt-project", "asia-east1")
    per_model = Provider(
        name="vx",
        api_base_url="https://aiplatform.googleapis.com",
        api_key=None,
        models=("m",),
        transformers=(TransformerUse("vertex-gemini"),),
        model_transformers={"m": (TransformerUse("vertex-gemini", {"location": "global"}),)},
    )
    assert VertexGeminiAdapter(per_model, "m", env=env).location == "global"


def test_vertex_without_project_or_credentials_says_what_to_set(tmp_path: Path) -> None:
    provider = vertex_provider()
    adapter = VertexGeminiAdapter(provider, "m", env={ACCESS_TOKEN_ENV: "ya29.t"})
    with pytest.raises(UpstreamError) as caught:
        adapter.build_request({"messages": []}, ctx(provider, model="m"))
    assert caught.value.status == 400 and "GOOGLE_CLOUD_PROJECT" in caught.value.message
    broken = VertexGeminiAdapter(provider, "m", env={"HOME": str(tmp_path)})
    assert isinstance(broken.credentials.source(), BrokenCredentials)
    with pytest.raises(UpstreamError) as caught:
        broken.build_request({"messages": []}, ctx(provider, model="m"))
    assert caught.value.status == 401 and "GOOGLE_APPLICATION_CREDENTIALS" in caught.value.message


def test_vertex_reads_its_key_file_only_when_it_needs_it(tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"  # not there yet: constructing the adapter must not look
    env = {CREDENTIALS_ENV: str(key_file), "GOOGLE_CLOUD_PROJECT": "env-project"}
    provider = vertex_provider()
    adapter = VertexGeminiAdapter(provider, "m", env=env)
    write_service_account(key_file, new_rsa_key(), "https://t.test/token", "file-project")
    request = adapter.build_request({"messages": []}, ctx(provider, model="m"))  # the project is configured
    assert "/projects/env-project/" in request.url
    key_file.unlink()  # still not read: only the token needs it, and this request did not ask for one
    no_project = VertexGeminiAdapter(provider, "m", env={CREDENTIALS_ENV: str(key_file)})
    write_service_account(key_file, new_rsa_key(), "https://t.test/token", "file-project")
    assert no_project.project == "file-project"  # read when the project can only come from it


# ---------------------------------------------------------------------------------------------------------
# A conversation that moves from Gemini to Anthropic


def test_anthropic_drops_every_ccrouter_thinking_block() -> None:
    assert SYNTHETIC_THINKING_SIGNATURE.startswith("ccrouter-")
    real = {"type": "thinking", "thinking": "claude", "signature": "EqQBCkYIBxgCKkD-real"}
    body = {
        "messages": [
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": GEMINI_UNSIGNED},
                    {"type": "thinking", "thinking": "", "signature": GEMINI_SIGNATURE_PREFIX + "CiQB"},
                    {"type": "thinking", "thinking": "r", "signature": SYNTHETIC_THINKING_SIGNATURE},
                    {"type": "thinking", "thinking": "", "signature": "ccrouter-openai-responses:rs_1:blob"},
                    real,
                    {"type": "thinking", "thinking": "odd", "signature": None},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
                ],
            }
        ]
    }
    original = copy.deepcopy(body)
    kept = without_synthetic_thinking(body)
    assert body == original  # the client's body is not changed: a fallback target may need those blocks
    assert kept["messages"][0]["content"] == [
        real,
        {"type": "thinking", "thinking": "odd", "signature": None},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    ]
