"""OpenAI chat completions providers (the default wire format): Anthropic Messages <-> `/chat/completions`.

The translations live in `openai_chat_request`, `openai_chat_response` and `openai_chat_stream`; this module
binds them to a provider: endpoint URL, headers, SSE framing and error text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from ccrouter.config import Provider, TransformerUse
from ccrouter.errors import UpstreamError
from ccrouter.providers.base import Credentials, ForwardRequest, Reply, RequestContext, Usage, provider_error_text
from ccrouter.providers.openai_chat_errors import with_capability_hint
from ccrouter.providers.openai_chat_request import build_chat_request
from ccrouter.providers.openai_chat_response import completion_to_message, new_id
from ccrouter.providers.openai_chat_stream import ChatStreamState, Event, StreamState
from ccrouter.providers.tweaks.chain import build_chain
from ccrouter.sse import SSEDecoder, SSEEvent, encode_event

NOT_JSON = "The provider sent a stream event that is not valid JSON. Try again."
_HEAD_LIMIT = 2000  # bytes kept from a "stream" that may turn out to be a plain JSON error body


def chat_completions_url(api_base_url: str) -> str:
    """CCR wants the full `.../chat/completions` URL; bare base URLs get the usual path appended."""
    parts = urlsplit(api_base_url)
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path = (path or "/v1") + "/chat/completions"
    return urlunsplit(parts._replace(path=path))


class OpenAIChatAdapter:
    """The `Adapter` for OpenAI-compatible servers (DeepSeek, OpenRouter, Groq, Ollama, ...).

    `transformers` is the provider's transformer list for the model (`Provider.transformers_for`); its tweaks
    are built into a chain once, here, and cost nothing per request when there are none.
    """

    credentials: Credentials | None = None  # the key comes from the config

    def __init__(
        self,
        provider: Provider,
        transformers: Iterable[TransformerUse] = (),
        *,
        reasoning_echo: bool = True,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        self._url = chat_completions_url(provider.api_base_url)
        self._api_key = provider.api_key
        self._reasoning_echo = reasoning_echo
        self._make_id = make_id
        self._tweaks = build_chain(transformers)

    def build_request(self, body: dict[str, Any], ctx: RequestContext) -> ForwardRequest:
        tweaks = self._tweaks
        if tweaks.body:
            body = tweaks.apply_body(body)
        request = build_chat_request(body, ctx.target.model, reasoning_echo=self._reasoning_echo)
        if tweaks.request:
            request = tweaks.apply_request(request, body)
        headers = {"content-type": "application/json"}
        if self._api_key:
            headers["authorization"] = "Bearer " + self._api_key
        return ForwardRequest(self._url, headers, orjson.dumps(request))

    def parse_reply(self, payload: bytes, ctx: RequestContext) -> Reply:
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise UpstreamError(502, "The provider's reply is not a JSON object. Try again.", "api_error")
        if not data.get("choices") and data.get("error") is not None:
            # Some providers (OpenRouter) answer errors with HTTP 200.
            error = data["error"]
            code = error.get("code") if isinstance(error, dict) else None
            status = code if isinstance(code, int) and 400 <= code <= 599 else 502
            raise UpstreamError(status, self._redact(with_capability_hint(provider_error_text(payload))))
        if self._tweaks.completion:
            data = self._tweaks.apply_completion(data)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise UpstreamError(
                502, "The provider's reply has no `choices` (it is not a chat completion). Try again.", "api_error"
            )
        message = completion_to_message(data, ctx.target.model, ctx.input_tokens, self._make_id)
        usage = Usage(**message["usage"])
        return Reply(orjson.dumps(message), usage, message["stop_reason"])

    def stream_translator(self, ctx: RequestContext) -> ChatStreamTranslator:
        state = ChatStreamState(ctx.target.model, ctx.input_tokens, make_id=self._make_id)
        return ChatStreamTranslator(self._tweaks.stream_state(state) if self._tweaks.stream else state)

    def error_message(self, status: int, payload: bytes) -> str:
        """The provider's own error text; when it says tools or thinking are not supported, plus what to do."""
        return self._redact(with_capability_hint(provider_error_text(payload)))

    def _redact(self, text: str) -> str:
        key = self._api_key
        return text.replace(key, "[redacted]") if key and len(key) >= 8 and key in text else text


class ChatStreamTranslator:
    """Provider SSE bytes -> Anthropic SSE bytes, around a `ChatStreamState`."""

    def __init__(self, state: StreamState) -> None:
        self._state = state
        self._decoder = SSEDecoder()
        self.usage = state.usage  # the same object: the state updates it in place
        self.stop_reason: str | None = None
        self._done = False
        self._head: bytes | None = b""  # None once an SSE event arrived

    def feed(self, chunk: bytes) -> bytes:
        if self._done:
            return b""
        if self._head is not None and len(self._head) < _HEAD_LIMIT:
            self._head += chunk[:_HEAD_LIMIT]
        return self._translate(self._decoder.feed(chunk))

    def finish(self) -> bytes:
        if self._done:
            return b""
        out = self._translate(self._decoder.close())
        if self._done:
            return out
        self._done = True
        head = self._head.strip() if self._head is not None else b""
        if head.startswith(b"{"):
            text = provider_error_text(head)
            events = self._state.fail("api_error", f"The provider answered with JSON instead of a stream: {text}")
        else:
            events = self._state.finish()
        self.stop_reason = self._state.stop_reason
        return out + _encode(events)

    def _translate(self, sse_events: list[SSEEvent]) -> bytes:
        if not sse_events:
            return b""
        self._head = None
        state = self._state
        out: list[Event] = []
        for sse in sse_events:
            data = sse.data
            if not data:
                continue
            if data == "[DONE]":
                out += state.finish()
                self._done = True
                break
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                chunk = None
            if not isinstance(chunk, dict):
                out += state.fail("api_error", NOT_JSON)
                self._done = True
                break
            out += state.feed(chunk)
            if state.ended:
                self._done = True
                break
        self.stop_reason = state.stop_reason
        return _encode(out)


def _encode(events: list[Event]) -> bytes:
    if not events:
        return b""
    if len(events) == 1:
        return encode_event(*events[0])
    return b"".join([encode_event(name, data) for name, data in _coalesce(events)])


# Delta types whose pieces may be joined, and the field that holds the piece.
_JOINABLE = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}


def _coalesce(events: list[Event]) -> list[Event]:
    """Join adjacent deltas of one block that arrived in the same read into one event.

    A provider that sends many small chunks at once (or a client that reads slowly) would otherwise cost one
    encoded event per chunk; Anthropic streams carry deltas of any size, so the client sees the same content.
    """
    merged: list[Event] = []
    pieces: list[str] = []  # the pieces of merged[-1] while it is a joinable delta
    for name, data in events:
        if name == "content_block_delta" and pieces and data["index"] == merged[-1][1]["index"]:
            delta, last = data["delta"], merged[-1][1]["delta"]
            field = _JOINABLE.get(delta["type"])
            if field is not None and last["type"] == delta["type"]:
                pieces.append(delta[field])
                continue
        if pieces and len(pieces) > 1:
            last = merged[-1][1]["delta"]
            last[_JOINABLE[last["type"]]] = "".join(pieces)
        pieces = []
        merged.append((name, data))
        if name == "content_block_delta":
            field = _JOINABLE.get(data["delta"]["type"])
            if field is not None:
                pieces = [data["delta"][field]]
    if len(pieces) > 1:
        last = merged[-1][1]["delta"]
        last[_JOINABLE[last["type"]]] = "".join(pieces)
    return merged
