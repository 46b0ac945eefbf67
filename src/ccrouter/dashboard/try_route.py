"""`POST /api/ui/try`: send one prompt down a route (or to one target) and watch the answer stream in.

The prompt goes through `Gateway.messages` as a real streaming request: routing, fallback, budgets, the ledger and
the record sinks treat it like any other, so what the page shows is what Claude Code would get. A route name is
sent as the model id `/model` uses for it (`claude-ccr/route/<route>`: the route's target, then its fallbacks); a
"provider,model" as itself. Its session id (`ccr-ui-try-<hex>`) tells the dashboard's requests apart in the lists.

The browser gets the gateway's SSE bytes as they come, then `event: ccr-summary` with what the record says (tokens,
cost, latency). An answer that is not a stream (an error) becomes one `event: error` with the gateway's error JSON.
"""

from __future__ import annotations

import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from ccrouter.config.model import Config
from ccrouter.config.scenarios import ROUTE_SCENARIOS
from ccrouter.dashboard.live import SSE_HEADERS, LiveFeed, provider_text
from ccrouter.errors import GatewayError, error_body
from ccrouter.gateway.journey import Gateway
from ccrouter.gateway.model_list import ROUTE_PREFIX
from ccrouter.gateway.records import RequestRecord
from ccrouter.gateway.request import SESSION_HEADER
from ccrouter.gateway.responses import Send, end_stream, stream_chunk
from ccrouter.sse import encode_event
from ccrouter.untrusted import clip

MAX_PROMPT_CHARS = 20_000
MAX_TOKENS = 512
SESSION_PREFIX = "ccr-ui-try-"
_MAX_ERROR_BYTES = 64 * 1024  # of a gateway error body kept for the `error` event (its own are a few hundred)
_MAX_CHOICES_SHOWN = 40
_SUMMARY_KEYS = (
    "request_id", "provider", "model", "scenario", "status", "latency_ms", "ttft_ms", "input_tokens", "output_tokens",
    "cost_usd", "error",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TryRequest:
    model: str  # what the request's `model` says: a route's `/model` id, or "provider,model"
    prompt: str


async def try_route(gateway: Gateway, feed: LiveFeed, payload: Any, send: Send) -> None:
    """Answer `payload` ({"target", "prompt"}, parsed JSON or its bytes) with the stream and its summary. Raises
    GatewayError (400) before anything is sent when the payload is not usable. `feed` must be one of the gateway's
    record sinks: the summary is read from the record it keeps."""
    wanted = parse_try(payload, gateway.runtime.config)
    session_id = f"{SESSION_PREFIX}{secrets.token_hex(8)}"
    body = {
        "model": wanted.model,
        "max_tokens": MAX_TOKENS,
        "stream": True,
        "messages": [{"role": "user", "content": wanted.prompt}],
    }
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", SESSION_HEADER: session_id}
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    relay = _Relay(send)
    await gateway.messages(headers, orjson.dumps(body), relay)
    if relay.status != 200:
        await stream_chunk(send, encode_event("error", relay.error()))
    record = (feed.find(relay.request_id) if relay.request_id else None) or feed.last_of_session(session_id)
    await end_stream(send, encode_event("ccr-summary", _summary(record, relay, feed)))


def parse_try(payload: Any, config: Config) -> TryRequest:
    """The request `payload` asks for, checked against `config`; GatewayError (400) saying what to send instead."""
    if isinstance(payload, bytes | bytearray):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise GatewayError(400, 'The body is not JSON: send {"target": "default", "prompt": "..."}.') from None
    if not isinstance(payload, dict):
        raise GatewayError(400, 'Send a JSON object: {"target": "default", "prompt": "..."}.')
    target, prompt = payload.get("target"), payload.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise GatewayError(400, '"prompt" must be a non-empty string: the text to send.')
    if len(prompt) > MAX_PROMPT_CHARS:
        raise GatewayError(
            400, f'"prompt" has {len(prompt):,} characters; at most {MAX_PROMPT_CHARS:,} can be tried here.'
        )
    if not isinstance(target, str) or not target.strip():
        raise GatewayError(400, f'"target" must be a route name or "provider,model": {_choices(config)}.')
    return TryRequest(_model_for(target.strip(), config), prompt)


def _model_for(target: str, config: Config) -> str:
    """The request's `model` for a route name (its `/model` id) or a "provider,model" (as configured)."""
    if "," in target:
        resolved = config.resolve(target)
        if resolved is None:
            raise GatewayError(400, f"{clip(target)!r} is not a configured provider,model: {_choices(config)}.")
        return resolved.label
    route = next((s for s in ROUTE_SCENARIOS if s.value.casefold() == target.casefold()), None)
    if route is None or route not in config.routes:
        raise GatewayError(400, f"{clip(target)!r} is not a configured route: {_choices(config)}.")
    return f"{ROUTE_PREFIX}{route.value}"


def _choices(config: Config) -> str:
    """What may be tried: the configured routes, then every provider's models."""
    routes = [s.value for s in ROUTE_SCENARIOS if s in config.routes]
    targets = [f"{p.name},{m}" for p in config.providers.values() for m in p.models]
    shown = targets[:_MAX_CHOICES_SHOWN]
    more = f" and {len(targets) - len(shown)} more" if len(targets) > len(shown) else ""
    return f"use a route ({', '.join(routes) or 'none configured'}) or one of {', '.join(shown) or 'no targets'}{more}"


class _Relay:
    """The gateway's `send`: a stream's bytes go on to the browser as they come; an error body is kept."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None
        self.request_id: str | None = None
        self._error = bytearray()

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = dict(message.get("headers", ()))
            request_id = headers.get(b"request-id")
            self.request_id = request_id.decode("latin-1") if request_id else None
            return
        body: bytes = message.get("body", b"")
        if self.status == 200:
            if body:
                await stream_chunk(self._send, body)
        elif len(self._error) < _MAX_ERROR_BYTES:
            self._error += body[: _MAX_ERROR_BYTES - len(self._error)]

    def error(self) -> dict[str, Any]:
        """The gateway's error body, or one saying what is known when it is not a JSON object."""
        try:
            parsed = orjson.loads(self._error)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
        return error_body("api_error", f"The router answered HTTP {self.status} without an error body.")


def _summary(record: RequestRecord | None, relay: _Relay, feed: LiveFeed) -> dict[str, Any]:
    if record is None:  # not kept: the feed is not one of the gateway's sinks, or 1000 newer requests ended
        unknown = dict.fromkeys(_SUMMARY_KEYS)
        return {**unknown, "request_id": relay.request_id, "status": relay.status, "error": "Its record is not kept."}
    return {
        "request_id": record.request_id,
        "provider": record.provider,
        "model": record.model,
        "scenario": record.scenario,
        "status": record.status,
        "latency_ms": record.latency_ms,
        "ttft_ms": record.ttft_ms,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cost_usd": record.cost_usd,
        "error": provider_text(record.error, feed.redact),
    }
