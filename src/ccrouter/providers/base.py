"""What every provider adapter offers the gateway, and the small value types they exchange.

An adapter is pure: it turns an Anthropic Messages body into a `ForwardRequest`, and the provider's answer
(a JSON payload, or a stream of raw bytes) back into Anthropic's shapes. It never touches the network or the
clock. What sends a `ForwardRequest` is a `Transport`, defined here beside it (as httpx defines its transport
beside its request): the gateway's aiohttp client implements it, and credentials that must fetch a token use it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import uuid4

import orjson

from ccrouter.config.model import Target
from ccrouter.errors import UpstreamError

# The signature of thinking blocks that ccrouter made from another provider's reasoning. Anthropic would reject
# it (it signs its own thinking), so the Anthropic adapter drops such blocks when a conversation moves there.
SYNTHETIC_THINKING_SIGNATURE = "ccrouter-openai-chat"


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
        }


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Facts about one request that adapters may need."""

    request_id: str
    target: Target
    stream: bool
    input_tokens: int  # the local estimate, reported in message_start until the provider says better
    client_headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased names
    # A stable key per Claude Code session for providers that route requests to a warm prompt cache by it
    # (OpenAI's `prompt_cache_key`); None when the request has no session.
    cache_key: str | None = None


@dataclass(frozen=True, slots=True)
class ForwardRequest:
    """A POST to a provider: what an adapter builds and a `Transport` sends."""

    url: str
    headers: Mapping[str, str]
    body: bytes


class TransportResponse(Protocol):
    """A provider's answer as a `Transport` returns it, once its status and headers have arrived.

    Reading or iterating raises `UpstreamError` when the connection breaks or stalls.
    """

    status: int
    headers: Mapping[str, str]

    async def read(self) -> bytes:
        """The whole body (then the connection goes back to the pool)."""
        ...

    async def next_chunk(self) -> bytes:
        """The next piece of the body (b"" at its end). Safe to cancel: nothing read is lost."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        ...

    def close(self) -> None:
        """Drop the connection (used when the body was not read to the end)."""
        ...


class Transport(Protocol):
    """Sends a `ForwardRequest`. Failures to connect or time-outs raise `UpstreamError`s naming `provider_name`."""

    async def post(
        self, request: ForwardRequest, provider_name: str, timeout_ms: int, proxy_url: str | None = None
    ) -> TransportResponse: ...


@dataclass(slots=True)
class Reply:
    """A complete (non-streaming) Anthropic message, translated."""

    message: dict[str, Any]  # the Anthropic message
    usage: Usage
    stop_reason: str | None = None
    raw: bytes | None = None  # the provider's own bytes, when they are that message already (Anthropic)

    @property
    def body(self) -> bytes:
        """The message as JSON, ready to send."""
        return self.raw if self.raw is not None else orjson.dumps(self.message)


@dataclass(frozen=True, slots=True)
class StreamFailure:
    """Why a translated stream ended in an Anthropic `error` event: its error type and message, and whether the
    error was the first event (the stream said nothing before failing, so another target may still serve)."""

    error_type: str
    message: str
    at_start: bool = False

    @classmethod
    def of_event(cls, data: Any, at_start: bool = False) -> StreamFailure:
        """The failure an Anthropic `error` event's data (`{"type": "error", "error": {type, message}}`) tells."""
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return cls("api_error", "The provider's stream ended in an error.", at_start)
        kind, message = error.get("type"), error.get("message")
        return cls(
            kind if isinstance(kind, str) and kind else "api_error",
            message if isinstance(message, str) else orjson.dumps(error).decode()[:1000],
            at_start,
        )


class StreamTranslator(Protocol):
    """Turns a provider's streamed bytes into Anthropic SSE bytes, chunk by chunk."""

    usage: Usage
    stop_reason: str | None
    error: StreamFailure | None  # set once the translator has emitted an `error` event (it emits nothing after)

    def feed(self, chunk: bytes) -> bytes:
        """Bytes from the provider in; Anthropic SSE bytes out (possibly empty)."""
        ...

    def finish(self) -> bytes:
        """The provider closed the stream. Returns closing events, or an `event: error` when the
        reply was cut short, so a truncated answer never looks like a success."""
        ...


class Credentials(Protocol):
    """Headers that must be fetched before a request (an OAuth bearer token, cached until it expires)."""

    async def headers(self, transport: Transport, timeout_ms: int, proxy_url: str | None) -> Mapping[str, str]:
        """Extra request headers; any network call goes through `transport`."""
        ...


class Adapter(Protocol):
    credentials: Credentials | None  # None for providers whose key is in the config

    def build_request(self, body: dict[str, Any], ctx: RequestContext) -> ForwardRequest:
        """The provider request for an Anthropic Messages body (which the adapter may modify)."""
        ...

    def parse_reply(self, payload: bytes, ctx: RequestContext) -> Reply:
        """A provider's successful non-streaming response -> Anthropic message."""
        ...

    def stream_translator(self, ctx: RequestContext) -> StreamTranslator: ...

    def error_message(self, status: int, payload: bytes) -> str:
        """The provider's own error text from an error response body, for the client's error message."""
        ...


# Claude Code's attribution block, system[0] of its every request ("x-anthropic-billing-header: cc_version=...;").
# It is for Anthropic: other providers never get it (it changes with every release and would spoil their caches).
CLAUDE_CODE_ATTRIBUTION = "x-anthropic-billing-header:"


def system_prompt_texts(system: Any) -> list[str]:
    """The texts of a request's `system` (a string or text blocks), without Claude Code's attribution block."""
    if isinstance(system, str):
        return [system]
    if not isinstance(system, list):
        return []
    return [
        block["text"]
        for block in system
        if isinstance(block, dict)
        and block.get("type") == "text"
        and isinstance(block.get("text"), str)
        and not block["text"].startswith(CLAUDE_CODE_ATTRIBUTION)
    ]


def new_id() -> str:
    """A random id suffix, as Anthropic ids look (`msg_...`, `toolu_...`)."""
    return uuid4().hex[:24]


REDACTED = "[redacted]"  # what stands in for a secret wherever one is removed


def redact_key(text: str, key: str | None) -> str:
    """`text` with the provider's API key replaced (a provider may quote it back in an error)."""
    return text.replace(key, REDACTED) if key and len(key) >= 8 and key in text else text


def reply_json(payload: bytes) -> Any:
    """A non-streaming reply's JSON value (None when it is not JSON); `json_object` then insists on an object."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


def json_object(data: Any) -> dict[str, Any]:
    """A reply's JSON value, which must be an object: anything else is a 502 worth a retry."""
    if not isinstance(data, dict):
        raise UpstreamError(502, "The provider's reply is not a JSON object. Try again.", "api_error")
    return data


def error_status(error: Any) -> int:
    """The HTTP status for an `error` a provider sent with status 200: its `code` when that is an error status."""
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) and 400 <= code <= 599 else 502


def provider_error_text(payload: bytes) -> str:
    """The provider's own message from an error body in any of the usual shapes (bounded in length)."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        text = payload.decode("utf-8", "replace").strip()
        return text[:500] or "(empty response body)"
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:2000]
        for key in ("error", "message", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])[:2000]
    return orjson.dumps(data).decode()[:500]
