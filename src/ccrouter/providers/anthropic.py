"""Anthropic-compatible providers (transformer `Anthropic`): the identity translation.

The body goes on unchanged but for the model name; `anthropic-version` and `anthropic-beta` are forwarded; the
provider's key replaces the client's. The stream is relayed byte for byte (but for the provider's key, should it
quote it back) while an SSE decoder watches it for usage and for a proper ending, so a cut stream still ends in an
error the client can see.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from ccrouter.config.model import Provider
from ccrouter.providers.base import (
    REDACTED,
    Credentials,
    ForwardRequest,
    Reply,
    RequestContext,
    StreamFailure,
    Usage,
    json_object,
    provider_error_text,
    redact_key,
    reply_json,
)
from ccrouter.providers.stream_events import CUT_SHORT
from ccrouter.sse import SSEDecoder, encode_event

FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
SYNTHETIC_THINKING_PREFIX = "ccrouter-"  # every thinking signature ccrouter makes starts so
REDACTED_KEY = REDACTED.encode()


def messages_url(api_base_url: str) -> str:
    """CCR wants the full `/v1/messages` URL; people also paste the bare base URL, so accept both."""
    url = api_base_url.rstrip("/")
    if url.endswith("/messages"):
        return url
    if url.endswith("/v1"):
        return url + "/messages"
    return url + "/v1/messages"


ANTHROPIC_API_HOST = "api.anthropic.com"


class AnthropicAdapter:
    credentials: Credentials | None = None  # the key comes from the config

    def __init__(self, provider: Provider) -> None:
        self._url = messages_url(provider.api_base_url)
        # Claude Code sends `role: "system"` messages that only Anthropic's own API accepts; other Anthropic-format
        # servers answer 422, so they get those notes in the system prompt instead.
        self._system_messages_allowed = urlsplit(self._url).hostname == ANTHROPIC_API_HOST
        self._api_key = provider.api_key
        self._auth_header = ("x-api-key", provider.api_key) if provider.api_key else None
        for use in provider.transformers:
            if use.name == "anthropic" and use.options and use.options.get("UseBearer"):
                self._auth_header = ("authorization", f"Bearer {provider.api_key}") if provider.api_key else None

    def build_request(self, body: dict[str, Any], ctx: RequestContext) -> ForwardRequest:
        # A copy: the client's body stays as it came, for a fallback target that may need what is dropped here.
        body = {**without_synthetic_thinking(body), "model": ctx.target.model}
        if not self._system_messages_allowed:
            body = with_system_messages_in_system(body)
        headers = {"content-type": "application/json"}
        for name in FORWARDED_HEADERS:
            value = ctx.client_headers.get(name)
            if value:
                headers[name] = value
        headers.setdefault("anthropic-version", "2023-06-01")
        if self._auth_header:
            headers[self._auth_header[0]] = self._auth_header[1]
        return ForwardRequest(self._url, headers, orjson.dumps(body))

    def parse_reply(self, payload: bytes, ctx: RequestContext) -> Reply:
        message = json_object(reply_json(payload))
        usage = Usage()
        _read_usage(message.get("usage"), usage)
        stop_reason = message.get("stop_reason")
        return Reply(message, usage, stop_reason if isinstance(stop_reason, str) else None, raw=payload)

    def stream_translator(self, ctx: RequestContext) -> AnthropicStreamRelay:
        return AnthropicStreamRelay(self._api_key)

    def error_message(self, status: int, payload: bytes) -> str:
        return redact_key(provider_error_text(payload), self._api_key)


def with_system_messages_in_system(body: dict[str, Any]) -> dict[str, Any]:
    """`body` (a copy, when anything moves) with its `role: "system"` messages appended to the system prompt as
    text blocks, in order, and taken out of `messages`."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not any(_is_system_message(m) for m in messages):
        return body
    system = body.get("system")
    blocks: list[Any] = [{"type": "text", "text": system}] if isinstance(system, str) and system else []
    if isinstance(system, list):
        blocks = list(system)
    for message in messages:
        if _is_system_message(message):
            content = message.get("content")
            texts = [content] if isinstance(content, str) else [b for b in content if isinstance(b, dict)]
            blocks += [{"type": "text", "text": t} if isinstance(t, str) else t for t in texts]
    return {**body, "system": blocks, "messages": [m for m in messages if not _is_system_message(m)]}


def _is_system_message(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and message.get("role") == "system"
        and isinstance(message.get("content"), (str, list))
    )


def without_synthetic_thinking(body: dict[str, Any]) -> dict[str, Any]:
    """`body` without the thinking blocks ccrouter made from another provider's reasoning: Anthropic rejects their
    signature. A conversation that moved here from another provider keeps its text and tool calls; only that
    provider's reasoning, which Anthropic cannot verify, is left out. `body` itself is not changed (a copy is
    made only when something is dropped)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    kept: list[Any] | None = None
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) and message.get("role") == "assistant" else None
        if isinstance(content, list) and any(_is_synthetic_thinking(block) for block in content):
            if kept is None:
                kept = list(messages)
            kept[i] = {**message, "content": [block for block in content if not _is_synthetic_thinking(block)]}
    return body if kept is None else {**body, "messages": kept}


def _is_synthetic_thinking(block: Any) -> bool:
    """ccrouter signs every thinking block it makes `ccrouter-...` (SYNTHETIC_THINKING_SIGNATURE, and the
    Responses and Gemini adapters' signatures that carry their provider's state); Anthropic's never look so."""
    if not isinstance(block, dict) or block.get("type") != "thinking":
        return False
    signature = block.get("signature")
    return isinstance(signature, str) and signature.startswith(SYNTHETIC_THINKING_PREFIX)


class AnthropicStreamRelay:
    """Relays the provider's SSE unchanged, noting usage, stop reason, and whether (and how) the stream ended.

    With a provider key (`api_key`), the key is replaced wherever the provider quotes it (an error event that
    echoes the request's headers). A key never spans a line, so the relay holds back the unfinished last line of
    each read until its end arrives: the client could not use half a line anyway."""

    def __init__(self, api_key: str | None = None) -> None:
        self.usage = Usage()
        self.stop_reason: str | None = None
        self.error: StreamFailure | None = None
        self._decoder = SSEDecoder()
        self._ended = False
        self._quiet = True  # no event seen yet
        self._key = api_key.encode() if api_key and len(api_key) >= 8 else None  # as `redact_key` decides
        self._api_key = api_key
        self._partial = b""  # the unfinished last line held back (only with a key)

    def feed(self, chunk: bytes) -> bytes:
        for event in self._decoder.feed(chunk):
            self._observe(event.event, event.data)
        if self._key is None:
            return chunk
        data = self._partial + chunk if self._partial else chunk
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        self._partial = data[cut:]
        return self._redacted(data[:cut])

    def finish(self) -> bytes:
        for event in self._decoder.close():
            self._observe(event.event, event.data)
        held, self._partial = self._redacted(self._partial), b""
        if self._ended:
            return held
        self._ended = True
        self.error = StreamFailure("api_error", CUT_SHORT, at_start=self._quiet)
        return held + encode_event("error", {"type": "error", "error": {"type": "api_error", "message": CUT_SHORT}})

    def _redacted(self, data: bytes) -> bytes:
        key = self._key
        return data.replace(key, REDACTED_KEY) if key is not None and key in data else data

    def _observe(self, name: str | None, data: str) -> None:
        quiet, self._quiet = self._quiet, False
        if name == "message_stop":
            self._ended = True
            return
        if name == "error":
            self._ended = True
            failure = StreamFailure.of_event(_json(data), at_start=quiet)
            self.error = StreamFailure(failure.error_type, redact_key(failure.message, self._api_key), failure.at_start)
            return
        if name not in ("message_start", "message_delta"):
            return
        event = _json(data)
        if not isinstance(event, dict):
            return
        if name == "message_start" and isinstance(event.get("message"), dict):
            _read_usage(event["message"].get("usage"), self.usage)
        elif name == "message_delta":
            _read_usage(event.get("usage"), self.usage)
            delta = event.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self.stop_reason = delta["stop_reason"]


def _json(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _read_usage(source: Any, usage: Usage) -> None:
    if not isinstance(source, dict):
        return
    for field in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
        value = source.get(field)
        if isinstance(value, int) and value:
            setattr(usage, field, value)
