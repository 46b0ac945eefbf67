"""One request's journey: parse, route, adapt, send, translate back, and record how it went.

HTTP framing lives in `app.py`, the network in `upstream.py`, formats in `providers/`. Every request, whatever its
outcome (success, upstream error, bad input, client gone), ends in exactly one `RequestRecord` handed to the
record sinks: today the log line; the cost ledger and the dashboard will subscribe to the same seam.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from ccrouter.config.model import Config, Target
from ccrouter.errors import BadRequest, GatewayError, UpstreamError
from ccrouter.gateway import routing
from ccrouter.gateway.cooldowns import Cooldowns
from ccrouter.gateway.custom_router import RouterFunction, ask_custom_router, load_custom_router
from ccrouter.gateway.dispatch import Attempt, Dispatcher, Opened, Plan, attempts_header
from ccrouter.gateway.logs import Logger, Redactor
from ccrouter.gateway.responses import Send, end_stream, send_bytes, send_error, send_json, start_stream, stream_chunk
from ccrouter.gateway.sessions import SessionActivityLog
from ccrouter.gateway.upstream import Upstream
from ccrouter.providers.base import Adapter, Usage
from ccrouter.providers.registry import make_adapter
from ccrouter.providers.sse_translation import encode_events
from ccrouter.providers.stream_events import whole_message_events
from ccrouter.sse import PING, encode_event
from ccrouter.tokens import SessionCountsCache, estimate_tokens

DEFAULT_PING_INTERVAL_S = 10.0
CLIENT_CLOSED = 499  # nginx's convention for "the client went away before the answer"


@dataclass(slots=True)
class RequestRecord:
    """What happened to one request: emitted once, when it ends, whatever the outcome."""

    request_id: str
    started_at: float
    stream: bool = False
    session_id: str | None = None
    requested_model: str | None = None
    scenario: str | None = None
    provider: str | None = None
    model: str | None = None
    status: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    estimated_input_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    stop_reason: str | None = None
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)  # every target tried (or skipped), in order

    def as_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _RECORD_FIELDS}
        data["attempts"] = [attempt.as_dict() for attempt in self.attempts]
        return data

    def take_usage(self, usage: Usage) -> None:
        self.input_tokens = usage.input_tokens
        self.output_tokens = usage.output_tokens
        self.cache_read_input_tokens = usage.cache_read_input_tokens
        self.cache_creation_input_tokens = usage.cache_creation_input_tokens


_RECORD_FIELDS = tuple(f.name for f in fields(RequestRecord))

RecordSink = Callable[[RequestRecord], None]


class Runtime:
    """Everything derived from one config: swapped whole on reload; in-flight requests keep theirs."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.custom_router: RouterFunction | None = (
            load_custom_router(config.custom_router_path) if config.custom_router_path else None
        )
        self.redact = Redactor([config.apikey, *(p.api_key for p in config.providers.values())])
        self._adapters: dict[tuple[str, str], Adapter] = {}

    def adapter(self, target: Target) -> Adapter:
        key = (target.provider.name, target.model)
        adapter = self._adapters.get(key)
        if adapter is None:
            adapter = self._adapters[key] = make_adapter(target.provider, target.model)
        return adapter


class Gateway:
    def __init__(
        self,
        runtime: Runtime,
        upstream: Upstream,
        log: Logger,
        sinks: list[RecordSink] | None = None,
        ping_interval_s: float = DEFAULT_PING_INTERVAL_S,
    ) -> None:
        self.runtime = runtime
        self.upstream = upstream
        self.log = log
        self.activity = SessionActivityLog()
        self.sinks: list[RecordSink] = sinks if sinks is not None else [self._log_record, self.activity]
        self.sessions = routing.SessionUsage()
        self.session_counts = SessionCountsCache()
        self.ping_interval_s = ping_interval_s
        self.cooldowns = Cooldowns()
        # A stream may still fall back until its first bytes, but no longer than a ping interval: after that the
        # client's stream starts so that pings keep the connection alive.
        self.dispatcher = Dispatcher(upstream, self.cooldowns, commit_window_s=ping_interval_s)
        self.dispatcher.on_cooldown = self._log_cooldown
        self._ids = itertools.count(1)
        self._id_prefix = f"{os.getpid():x}{int(time.time()) & 0xFFFFFF:06x}"

    # -----------------------------------------------------------------------------------------------------------
    # POST /v1/messages

    async def messages(self, headers: dict[str, str], raw: bytes, send: Send) -> None:
        runtime = self.runtime  # one config for the whole request, even if a reload lands meanwhile
        record = RequestRecord(request_id=f"req_{self._id_prefix}{next(self._ids):06d}", started_at=time.time())
        started = time.perf_counter()
        streaming_started = False
        try:
            body = parse_messages_body(raw)
            record.stream = body.get("stream") is True
            record.requested_model = body["model"]
            record.session_id = routing.session_id_of(body, headers)
            if self.log.threshold <= 10:
                self.log.debug("request body", request_id=record.request_id, body=raw.decode("utf-8", "replace"))
            estimate = estimate_tokens(body, self.session_counts.get(record.session_id))
            record.estimated_input_tokens = estimate
            route = await self._route(runtime, body, estimate, record)
            record.scenario = route.scenario
            plan = Plan(route.targets, record.request_id, record.stream, estimate, headers, record.attempts)
            opened = await self.dispatcher.open(plan, body, runtime.config, runtime.adapter)
            target = opened.target
            record.provider, record.model = target.provider.name, target.model
            route_headers = _route_headers_of(record)
            if opened.reply is not None:
                reply = opened.reply
                record.take_usage(reply.usage)
                record.stop_reason = reply.stop_reason
                record.status = 200
                if record.stream:  # the provider ignored `stream: true`; the client still gets a stream
                    streaming_started = True
                    await start_stream(send, route_headers)
                    await end_stream(send, encode_events(whole_message_events(orjson.loads(reply.body))))
                else:
                    await send_bytes(send, 200, reply.body, route_headers)
            else:
                streaming_started = True
                await self._relay_stream(opened, route_headers, send, record, started, runtime)
            self.sessions.record(record.session_id, record.input_tokens + record.cache_read_input_tokens)
        except GatewayError as exc:
            message = runtime.redact(exc.message)
            record.status, record.error = exc.status, message
            tried = [attempt for attempt in record.attempts if attempt.status]
            if record.provider is None and tried:  # the target whose failure the client gets
                record.provider, _, record.model = tried[-1].target.partition(",")
            if not streaming_started:
                headers_out = _route_headers_of(record)
                if isinstance(exc, UpstreamError) and exc.retry_after_s is not None:
                    headers_out.append(("retry-after", str(math.ceil(exc.retry_after_s))))
                await send_error(send, GatewayError(exc.status, message, exc.error_type), headers_out)
        except asyncio.CancelledError:
            record.status, record.error = CLIENT_CLOSED, "the client closed the connection"
            raise
        except Exception as exc:  # a bug of ours: log it fully, answer without internals
            record.status = 500
            record.error = f"internal error: {type(exc).__name__}"
            error = self._internal_error(exc, record.request_id, runtime)
            if not streaming_started:
                await send_error(send, error)
        finally:
            record.latency_ms = round((time.perf_counter() - started) * 1000, 3)
            for sink in self.sinks:
                sink(record)

    async def _route(
        self, runtime: Runtime, body: dict[str, Any], estimate: int, record: RequestRecord
    ) -> routing.Route:
        custom_choice = None
        if runtime.custom_router is not None:
            custom_choice = await ask_custom_router(
                runtime.custom_router, body, runtime.config.raw, self.log, record.request_id
            )
        route = routing.route(
            body,
            runtime.config,
            token_estimate=estimate,
            session_last_input=self.sessions.get(record.session_id),
            custom_choice=custom_choice,
        )
        if custom_choice and route.scenario != "custom":
            self.log.warn(
                "custom router chose a provider or model that is not configured; using the configured rules",
                request_id=record.request_id,
                returned=custom_choice,
            )
        return route

    async def _relay_stream(
        self,
        opened: Opened,
        route_headers: list[tuple[str, str]],
        send: Send,
        record: RequestRecord,
        started: float,
        runtime: Runtime,
    ) -> None:
        translator, response = opened.translator, opened.response
        assert translator is not None
        record.status = 200
        await start_stream(send, route_headers)
        clock = _SendClock()
        tail = b""
        if opened.first_bytes:
            record.ttft_ms = round((time.perf_counter() - started) * 1000, 3)
            if opened.ended:
                tail = opened.first_bytes
            else:
                await stream_chunk(send, opened.first_bytes)
        keepalive = None if opened.ended else asyncio.create_task(self._keepalive(send, clock))
        try:
            if not opened.ended:
                async for chunk in response.chunks():
                    out = translator.feed(chunk)
                    if out:
                        if record.ttft_ms is None:
                            record.ttft_ms = round((time.perf_counter() - started) * 1000, 3)
                        clock.last = time.monotonic()
                        await stream_chunk(send, out)
                tail = translator.finish()
        except UpstreamError as exc:
            message = runtime.redact(exc.message)
            record.error = message
            error_type = "overloaded_error" if exc.status in (503, 529) else "api_error"
            tail = encode_event("error", {"type": "error", "error": {"type": error_type, "message": message}})
        finally:
            if keepalive is not None:
                keepalive.cancel()
            record.take_usage(translator.usage)
            record.stop_reason = translator.stop_reason
            response.close()
        if record.error is None and (translator.stop_reason is None or tail.startswith(b"event: error")):
            record.error = "the provider's stream ended in an error"  # the client got an `event: error`
        await end_stream(send, tail)

    async def _keepalive(self, send: Send, clock: _SendClock) -> None:
        interval = self.ping_interval_s
        while True:
            await asyncio.sleep(interval - (time.monotonic() - clock.last))
            if time.monotonic() - clock.last >= interval:
                clock.last = time.monotonic()
                await stream_chunk(send, PING)

    # -----------------------------------------------------------------------------------------------------------
    # POST /v1/messages/count_tokens

    async def count_tokens(self, raw: bytes, send: Send) -> None:
        try:
            body = parse_json_object(raw)
        except GatewayError as exc:
            await send_error(send, exc)
            return
        try:
            count = estimate_tokens(body)
        except Exception as exc:  # a bug of ours
            await send_error(send, self._internal_error(exc, "count_tokens", self.runtime))
            return
        await send_json(send, 200, {"input_tokens": count})

    def _internal_error(self, exc: Exception, request_id: str, runtime: Runtime) -> GatewayError:
        """Log a bug of ours fully; the client gets an Anthropic-shaped 500 without internals."""
        self.log.error("internal error", request_id=request_id, error=runtime.redact(repr(exc)), exc_info=_trace(exc))
        return GatewayError(
            500,
            f"ccrouter hit an internal error (request {request_id}). The details are in its log "
            "($CCR_HOME/logs/ccr-router.log); please report it.",
            "api_error",
        )

    # -----------------------------------------------------------------------------------------------------------

    def _log_cooldown(self, target: str, seconds: float, reason: str) -> None:
        self.log.warn(
            f"{target} is cooling down: every route skips it for {seconds:.0f} s",
            target=target,
            seconds=round(seconds, 1),
            reason=self.runtime.redact(reason),
        )

    def _log_record(self, record: RequestRecord) -> None:
        level = "info" if record.status < 400 else ("warn" if record.status < 500 else "error")
        if self.log.enabled(level):
            self.log.write(level, "request", record.as_dict())


class _SendClock:
    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = time.monotonic()


def _route_headers_of(record: RequestRecord) -> list[tuple[str, str]]:
    headers = [("request-id", record.request_id)]
    if record.scenario:
        headers.append(("x-ccr-route", record.scenario))
    if record.provider:
        headers += [("x-ccr-provider", record.provider), ("x-ccr-model", record.model or "")]
    if record.attempts:
        headers.append(("x-ccr-attempts", attempts_header(record.attempts)))
    return headers


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            f"The request body is not valid JSON ({exc}). Send an Anthropic Messages JSON object."
        ) from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object (an Anthropic Messages request).")
    return body


def parse_messages_body(raw: bytes) -> dict[str, Any]:
    body = parse_json_object(raw)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest('model: this field is required and must be a string, such as "claude-sonnet-4-5".')
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise BadRequest("messages: this field is required and must be a list of {role, content} objects.")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
            raise BadRequest(f'messages.{i}: each message must be an object with role "user" or "assistant".')
        content = message.get("content")
        if not isinstance(content, (str, list)):
            raise BadRequest(f"messages.{i}.content: must be a string or a list of content blocks.")
    if "max_tokens" in body and (not isinstance(body["max_tokens"], int) or isinstance(body["max_tokens"], bool)):
        raise BadRequest("max_tokens: must be a whole number.")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise BadRequest("stream: must be true or false.")
    return body


def _trace(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(exc))[-4000:]
