"""OpenAI chat completions providers (the default wire format): Anthropic Messages <-> `/chat/completions`.

The translations live in `openai_chat_request`, `openai_chat_response` and `openai_chat_stream`; this module
binds them to a provider: endpoint URL, headers, SSE framing and error text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from ccrouter.config.model import Provider, TransformerUse
from ccrouter.errors import UpstreamError
from ccrouter.providers.base import (
    Credentials,
    ForwardRequest,
    Reply,
    RequestContext,
    Usage,
    error_status,
    json_object,
    new_id,
    provider_error_text,
    redact_key,
    reply_json,
)
from ccrouter.providers.openai_chat.refusals import with_capability_hint
from ccrouter.providers.openai_chat.request import build_chat_request
from ccrouter.providers.openai_chat.response import completion_to_message
from ccrouter.providers.openai_chat.stream import ChatStreamState, StreamState
from ccrouter.providers.openai_chat.tweaks.chain import build_chain
from ccrouter.providers.sse_translation import NOT_JSON, SSETranslator, event_object
from ccrouter.providers.stream_events import Event
from ccrouter.sse import SSEEvent


def chat_completions_url(api_base_url: str) -> str:
    """CCR wants the full `.../chat/completions` URL; bare base URLs get the usual path appended."""
    parts = urlsplit(api_base_url)
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path = (path or "/v1") + "/chat/completions"
    return urlunsplit(parts._replace(path=path))


OPENAI_API_HOST = "api.openai.com"


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
        # OpenAI's own API routes a request to a warm prompt cache by `prompt_cache_key`; other OpenAI-compatible
        # servers may refuse fields they do not know, so only it gets one.
        self._takes_cache_key = urlsplit(self._url).hostname == OPENAI_API_HOST
        self._reasoning_echo = reasoning_echo
        self._make_id = make_id
        self._tweaks = build_chain(transformers)

    def build_request(self, body: dict[str, Any], ctx: RequestContext) -> ForwardRequest:
        tweaks = self._tweaks
        if tweaks.body:
            body = tweaks.apply_body(body)
        request = build_chat_request(body, ctx.target.model, reasoning_echo=self._reasoning_echo)
        if ctx.cache_key and self._takes_cache_key:
            request["prompt_cache_key"] = ctx.cache_key
        if tweaks.request:
            request = tweaks.apply_request(request, body)
        return ForwardRequest(self._url, bearer_headers(self._api_key), orjson.dumps(request))

    def parse_reply(self, payload: bytes, ctx: RequestContext) -> Reply:
        data = json_object(reply_json(payload))
        if not data.get("choices") and data.get("error") is not None:
            # Some providers (OpenRouter) answer errors with HTTP 200.
            text = with_capability_hint(provider_error_text(payload))
            raise UpstreamError(error_status(data["error"]), redact_key(text, self._api_key))
        if self._tweaks.completion:
            data = self._tweaks.apply_completion(data)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise UpstreamError(
                502, "The provider's reply has no `choices` (it is not a chat completion). Try again.", "api_error"
            )
        message = completion_to_message(data, ctx.target.model, ctx.input_tokens, self._make_id)
        usage = Usage(**message["usage"])
        return Reply(message, usage, message["stop_reason"])

    def stream_translator(self, ctx: RequestContext) -> ChatStreamTranslator:
        redact = partial(redact_key, key=self._api_key)
        state = ChatStreamState(ctx.target.model, ctx.input_tokens, make_id=self._make_id, redact=redact)
        return ChatStreamTranslator(self._tweaks.stream_state(state) if self._tweaks.stream else state)

    def error_message(self, status: int, payload: bytes) -> str:
        """The provider's own error text; when it says tools or thinking are not supported, plus what to do."""
        return redact_key(with_capability_hint(provider_error_text(payload)), self._api_key)


def bearer_headers(api_key: str | None) -> dict[str, str]:
    """A JSON request's headers, with the key as a bearer token (OpenAI's APIs and the servers that copy them)."""
    headers = {"content-type": "application/json"}
    if api_key:
        headers["authorization"] = "Bearer " + api_key
    return headers


class ChatStreamTranslator(SSETranslator[StreamState]):
    """Provider SSE bytes -> Anthropic SSE bytes, around a `ChatStreamState`: one chunk per event, ended by
    `data: [DONE]`."""

    def _translate(self, sse_events: list[SSEEvent]) -> list[Event]:
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
            chunk = event_object(data)
            if chunk is None:
                out += state.fail("api_error", NOT_JSON)
                self._done = True
                break
            out += state.feed(chunk)
            if state.ended:
                self._done = True
                break
        self.stop_reason = state.stop_reason
        return out
