"""Google Gemini providers (transformer `gemini`): Anthropic Messages <-> `generateContent`.

The translations live in `gemini_request` (with `gemini_contents` and `gemini_schema`), `gemini_response` and
`gemini_stream`; this module binds them to a provider: endpoint URLs, the `x-goog-api-key` header and error text.
`gemini_vertex` reuses all of it with Vertex AI's URLs and a bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import orjson

from ccrouter.config.model import Provider
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
from ccrouter.providers.gemini.request import build_gemini_request
from ccrouter.providers.gemini.response import (
    FAILED_FINISH,
    failed_finish_message,
    first_candidate,
    response_to_message,
)
from ccrouter.providers.gemini.stream import GeminiStreamState, GeminiStreamTranslator

_VERSION = re.compile(r"^v\d+((alpha|beta)\d*)?$")
_KEY_PROBLEMS = ("API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED")


def models_url(api_base_url: str) -> str:
    """The `.../models/` prefix model names go after. CCR users write `.../v1beta/models/`; a bare host, a version
    URL or a pasted `.../models/NAME:generateContent` work too."""
    parts = urlsplit(api_base_url)
    path = parts.path
    index = path.find("/models/")
    if index >= 0:
        path = path[: index + len("/models/")]
    else:
        path = path.rstrip("/")
        if not path.endswith("/models"):
            last = path.rsplit("/", 1)[-1]
            path += "/models" if _VERSION.match(last) else "/v1beta/models"
        path += "/"
    return urlunsplit(parts._replace(path=path))


def method_url(prefix: str, model: str, stream: bool) -> str:
    """`{prefix}{model}:generateContent`, or `:streamGenerateContent?alt=sse`, keeping the prefix's query."""
    parts = urlsplit(prefix)
    name = model.removeprefix("models/")
    path = parts.path + quote(name, safe="-._~@") + (":streamGenerateContent" if stream else ":generateContent")
    query = parts.query
    if stream:
        query = f"{query}&alt=sse" if query else "alt=sse"
    return urlunsplit(parts._replace(path=path, query=query))


def gemini_error_text(payload: bytes) -> str:
    """Gemini's own message from an error body (`{"error": {code, message, status}}`, sometimes in a list)."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return provider_error_text(payload)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return provider_error_text(payload)
    text = str(error["message"]).strip()[:2000]
    status = error.get("status")
    if isinstance(status, str) and status and status not in text:
        text += f" ({status})"
    if any(reason in orjson.dumps(error.get("details") or []).decode() for reason in _KEY_PROBLEMS):
        text += " Check this provider's api_key in the config."
    return text


class GeminiAdapter:
    """The `Adapter` for the Gemini API (generativelanguage.googleapis.com and compatible servers)."""

    credentials: Credentials | None = None  # the key comes from the config

    def __init__(self, provider: Provider, model: str, *, make_id: Callable[[], str] = new_id) -> None:
        self._api_key = provider.api_key
        self._make_id = make_id
        self._prefix = models_url(provider.api_base_url)

    def build_request(self, body: dict[str, Any], ctx: RequestContext) -> ForwardRequest:
        request = build_gemini_request(body, ctx.target.model)
        url = method_url(self.models_prefix(), ctx.target.model, ctx.stream)
        return ForwardRequest(url, self.request_headers(), orjson.dumps(request))

    def models_prefix(self) -> str:
        return self._prefix

    def request_headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self._api_key:
            headers["x-goog-api-key"] = self._api_key
        return headers

    def parse_reply(self, payload: bytes, ctx: RequestContext) -> Reply:
        data = reply_json(payload)
        if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
            data = _merge_chunks(data)  # a proxy answered with the streamed array
        data = json_object(data)
        if data.get("error") is not None and not data.get("candidates"):
            raise UpstreamError(error_status(data["error"]), redact_key(gemini_error_text(payload), self._api_key))
        candidate = first_candidate(data)
        if candidate is not None and candidate.get("finishReason") in FAILED_FINISH:
            raise UpstreamError(502, failed_finish_message(candidate), "api_error")
        message = response_to_message(data, ctx.target.model, ctx.input_tokens, self._make_id)
        return Reply(message, Usage(**message["usage"]), message["stop_reason"])

    def stream_translator(self, ctx: RequestContext) -> GeminiStreamTranslator:
        redact = partial(redact_key, key=self._api_key)
        state = GeminiStreamState(ctx.target.model, ctx.input_tokens, make_id=self._make_id, redact=redact)
        return GeminiStreamTranslator(state)

    def error_message(self, status: int, payload: bytes) -> str:
        return redact_key(gemini_error_text(payload), self._api_key)


def _merge_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The chunks of a streamed answer as one response: their parts in order, the last finish and usage."""
    parts: list[Any] = []
    merged: dict[str, Any] = {}
    candidate: dict[str, Any] = {}
    for chunk in chunks:
        if chunk.get("error") is not None:
            return chunk
        for key in ("usageMetadata", "responseId", "modelVersion", "promptFeedback"):
            if key in chunk:
                merged[key] = chunk[key]
        first = first_candidate(chunk)
        if first is None:
            continue
        content = first.get("content")
        if isinstance(content, dict) and isinstance(content.get("parts"), list):
            parts += content["parts"]
        candidate.update({k: v for k, v in first.items() if k != "content"})
    if candidate or parts:
        merged["candidates"] = [{**candidate, "content": {"role": "model", "parts": parts}}]
    return merged
