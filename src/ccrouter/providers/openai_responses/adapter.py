"""OpenAI Responses providers (transformer `openai-responses`): Anthropic Messages <-> `/v1/responses`.

For models served only there (GPT-5 family, o-series, codex models). The translations live in
`openai_responses_request`, `openai_responses_response` and `openai_responses_stream`; this module binds them to a
provider: endpoint URL, headers, SSE framing and error text.

Transformer options: `["openai-responses", {"reasoning_summary": "auto" | "concise" | "detailed" | "none"}]`
chooses the reasoning summary asked for when thinking is shown (default "auto"; "none" for organisations that
OpenAI has not verified for summaries).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from ccrouter.config.model import Provider
from ccrouter.errors import UpstreamError
from ccrouter.providers.base import (
    Credentials,
    ForwardRequest,
    Reply,
    RequestContext,
    Usage,
    json_object,
    new_id,
    provider_error_text,
    redact_key,
    reply_json,
)
from ccrouter.providers.openai_chat.adapter import bearer_headers
from ccrouter.providers.openai_responses.request import SUMMARIES, build_responses_request
from ccrouter.providers.openai_responses.response import error_text, error_type, response_to_message
from ccrouter.providers.openai_responses.stream import ResponsesStreamState
from ccrouter.providers.sse_translation import NOT_JSON, SSETranslator, event_object
from ccrouter.providers.stream_events import Event
from ccrouter.sse import SSEEvent

TRANSFORMER = "openai-responses"
_FAILED_STATUS = {"rate_limit_error": 429, "invalid_request_error": 400}
SUMMARY_HINT = (
    " ccrouter: to use this provider without reasoning summaries (thinking then shows no text), set its transformer "
    'to ["openai-responses", {"reasoning_summary": "none"}].'
)


def responses_url(api_base_url: str) -> str:
    """CCR users write the full `.../v1/responses` URL; bare base URLs get the usual path appended, and a chat
    completions URL pasted by habit is pointed at its Responses sibling."""
    parts = urlsplit(api_base_url)
    path = parts.path.rstrip("/")
    if path.endswith("/chat/completions"):
        path = path[: -len("/chat/completions")] + "/responses"
    elif not path.endswith("/responses"):
        path = (path or "/v1") + "/responses"
    return urlunsplit(parts._replace(path=path))


class ResponsesAdapter:
    """The `Adapter` for OpenAI's Responses API and servers that speak it."""

    credentials: Credentials | None = None  # the key comes from the config

    def __init__(self, provider: Provider, model: str, *, make_id: Callable[[], str] = new_id) -> None:
        self._url = responses_url(provider.api_base_url)
        self._api_key = provider.api_key
        self._make_id = make_id
        self._summary: str | None = "auto"
        for use in provider.transformers_for(model):
            if use.name == TRANSFORMER and use.options and "reasoning_summary" in use.options:
                value = use.options["reasoning_summary"]
                self._summary = value if value in SUMMARIES else None

    def build_request(self, body: dict[str, Any], ctx: RequestContext) -> ForwardRequest:
        request = build_responses_request(body, ctx.target.model, summary=self._summary)
        if ctx.cache_key:  # requests of one session reach the same warm cache (store: false keeps nothing else)
            request["prompt_cache_key"] = ctx.cache_key
        return ForwardRequest(self._url, bearer_headers(self._api_key), orjson.dumps(request))

    def parse_reply(self, payload: bytes, ctx: RequestContext) -> Reply:
        data = json_object(reply_json(payload))
        error = data.get("error")
        if data.get("status") == "failed" or (error and not isinstance(data.get("output"), list)):
            code = error.get("code") if isinstance(error, dict) else None
            kind = error_type(code)
            text = redact_key(f"The provider could not complete the response: {error_text(error)}", self._api_key)
            raise UpstreamError(_FAILED_STATUS.get(kind, 502), text, kind)
        message = response_to_message(data, ctx.target.model, ctx.input_tokens, self._make_id)
        return Reply(message, Usage(**message["usage"]), message["stop_reason"])

    def stream_translator(self, ctx: RequestContext) -> ResponsesStreamTranslator:
        redact = partial(redact_key, key=self._api_key)
        state = ResponsesStreamState(ctx.target.model, ctx.input_tokens, make_id=self._make_id, redact=redact)
        return ResponsesStreamTranslator(state)

    def error_message(self, status: int, payload: bytes) -> str:
        text = provider_error_text(payload)
        if "reasoning summar" in text.lower():  # "Your organization must be verified to generate reasoning summaries"
            text += SUMMARY_HINT
        return redact_key(text, self._api_key)


class ResponsesStreamTranslator(SSETranslator[ResponsesStreamState]):
    """Provider SSE bytes -> Anthropic SSE bytes, around a `ResponsesStreamState`: one typed event per SSE event
    (its type in the JSON, or only in the SSE `event:` field on some servers); a `[DONE]` some add is ignored."""

    def _translate(self, sse_events: list[SSEEvent]) -> list[Event]:
        state = self._state
        out: list[Event] = []
        for sse in sse_events:
            if not sse.data or sse.data == "[DONE]":
                continue
            event = event_object(sse.data)
            if event is None:
                out += state.fail("api_error", NOT_JSON)
                break
            if "type" not in event and sse.event:
                event["type"] = sse.event
            out += state.feed(event)
            if state.ended:
                break
        self._done = state.ended
        self.stop_reason = state.stop_reason
        return out
