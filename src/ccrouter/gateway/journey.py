"""One request's journey, one way: parse, take the subagent tag out, route, send, answer, and record how it went.

HTTP framing lives in `app.py`, the network behind a `Transport` (`upstream.py`), formats in `providers/`. The
body is parsed once (`request.py`); trying targets is `dispatch.py`; relaying a stream is `relay.py`. Every
request ends in exactly one `RequestRecord` handed to the record sinks (`records.py`, `sessions.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import time
from collections.abc import Iterable

from ccrouter.config.model import DEFAULT_PING_INTERVAL_MS, Target
from ccrouter.config.scenarios import Scenario
from ccrouter.config.users_section import ADMIN, User
from ccrouter.errors import GatewayError, UpstreamError, drop_tracebacks, error_body
from ccrouter.gateway import routing
from ccrouter.gateway.cooldowns import Cooldowns
from ccrouter.gateway.counting import estimate_body
from ccrouter.gateway.custom_router import ask_custom_router
from ccrouter.gateway.dispatch import Dispatcher, Plan
from ccrouter.gateway.in_flight import STOPPED, InFlight
from ccrouter.gateway.logs import Logger
from ccrouter.gateway.project_routes import ProjectRoutes
from ccrouter.gateway.records import RecordSink, RequestLog, RequestRecord, attempts_header
from ccrouter.gateway.redis_budgets import SharedBudgets
from ccrouter.gateway.relay import relay_stream
from ccrouter.gateway.request import MessagesRequest, parse_json_object
from ccrouter.gateway.request_kind import kind_of, think_signals
from ccrouter.gateway.responses import Send, end_stream, send_bytes, send_error, send_json, start_stream
from ccrouter.gateway.runtime import Runtime
from ccrouter.gateway.sessions import LastInputTokens, SessionActivity
from ccrouter.gateway.subagent import take_subagent_tag
from ccrouter.gateway.turns import TurnPins, continues_turn, turn_key
from ccrouter.gateway.user_limits import (
    InMemoryRateLimiter,
    RateLimiter,
    Ticket,
    UserRateLimited,
    route_refusal,
    used_tokens,
)
from ccrouter.providers.base import Reply, Transport
from ccrouter.providers.sse_translation import encode_events
from ccrouter.providers.stream_events import whole_message_events
from ccrouter.sse import encode_event
from ccrouter.tokens import SessionCountsCache

CLIENT_CLOSED = 499  # nginx's convention for "the client went away before the answer"


class Gateway:
    """Serves `/v1/messages` and `/v1/messages/count_tokens` with the current `runtime` (swapped on reload)."""

    def __init__(
        self,
        runtime: Runtime,
        transport: Transport,
        log: Logger,
        sinks: Iterable[RecordSink] = (),
        ping_interval_s: float = DEFAULT_PING_INTERVAL_MS / 1000,
    ) -> None:
        """`sinks` get every record after the gateway's own: the log line and the per-session state."""
        self.runtime = runtime
        self.log = log
        self.last_input = LastInputTokens()
        self.activity = SessionActivity()
        self.turns = TurnPins()
        self.project_routes = ProjectRoutes(log)
        self.sinks: list[RecordSink] = [RequestLog(log), self.activity, self.last_input, self.turns, *sinks]
        self.session_counts = SessionCountsCache()
        self.ping_interval_s = ping_interval_s
        self.in_flight = InFlight()  # the requests being served, which a stopping service ends (app.py)
        self.cooldowns = Cooldowns()
        self.rate_limiter: RateLimiter = InMemoryRateLimiter()  # users' limits outlive a reload: kept here
        self.shared_budgets: SharedBudgets | None = None  # STATE_URL: the budgets' spend of every router
        # A stream may still fall back until its first bytes, but no longer than a ping interval: after that the
        # client's stream starts so that pings keep the connection alive.
        self.dispatcher = Dispatcher(transport, self.cooldowns, commit_window_s=ping_interval_s)
        self.dispatcher.on_cooldown = self._log_cooldown
        self._ids = itertools.count(1)
        self._id_prefix = f"{os.getpid():x}{int(time.time()) & 0xFFFFFF:06x}"

    # -----------------------------------------------------------------------------------------------------------
    # POST /v1/messages

    async def messages(self, headers: dict[str, str], raw: bytes, send: Send, user: User | None = None) -> None:
        """Serve one request of `user` (None: the admin, or anyone without Users)."""
        runtime = self.runtime  # one config for the whole request, even if a reload lands meanwhile
        record = RequestRecord(request_id=f"req_{self._id_prefix}{next(self._ids):06d}", started_at=time.time())
        record.user = user.name if user is not None else (ADMIN if runtime.config.users else None)
        started = time.perf_counter()
        streaming_started = False
        ticket: Ticket | None = None
        try:
            request = MessagesRequest.parse(raw, headers)
            record.stream, record.requested_model, record.session_id = request.stream, request.model, request.session_id
            runtime.accounts.note_project(record, request)
            if self.log.threshold <= 10:
                self.log.debug("request body", request_id=record.request_id, body=raw.decode("utf-8", "replace"))
            subagent = take_subagent_tag(request.body)
            kind = kind_of(request)
            record.request_class = kind.request_class.value
            record.turn = turn_key(request, kind)
            estimate = await estimate_body(
                request.body, len(raw), self.session_counts.get(request.session_id, len(raw))
            )
            record.estimated_input_tokens = estimate
            pin = self.turns.get(record.turn) if continues_turn(request) else None
            facts = routing.Facts(
                kind,
                estimate,
                lambda: think_signals(request),
                self.last_input.get(request.session_id),
                subagent,
                await self._ask_custom_router(runtime, request, record.request_id),
                pin,
            )
            route = routing.route(request, self.project_routes.config_for(runtime.config, request), facts)
            self._note_unused_custom_choice(facts, route, record.request_id)
            record.scenario, record.pinned = route.name, route.pinned
            if user is not None:
                ticket = await self._admit(user, route, estimate)
            if self.shared_budgets is not None:  # STATE_URL: every router's spend, read before the check
                await self.shared_budgets.refresh(runtime.accounts.books_for(record.user))
            targets = self._within_budgets(runtime, route, record)
            plan = Plan(request, record.request_id, targets, estimate, record.attempts, runtime.redact)
            opened = await self.dispatcher.open(plan, runtime.config, runtime.adapter)
            record.served_by(opened.target)
            route_headers = route_headers_of(record)
            record.status = 200
            streaming_started = request.stream
            if opened.reply is not None:
                await _send_reply(opened.reply, request.stream, route_headers, send, record)
            else:
                await relay_stream(opened, route_headers, send, record, started, self.ping_interval_s, runtime.redact)
        except GatewayError as exc:
            drop_tracebacks(exc)  # its frames hold the request's body, in cycles the tuned collector seldom frees
            message = runtime.redact(exc.message)
            record.status, record.error = exc.status, message
            tried = [attempt for attempt in record.attempts if attempt.status]
            if record.provider is None and tried:  # the target whose failure the client gets
                record.served_by(tried[-1].target)
            if not streaming_started:
                headers_out = route_headers_of(record)
                if isinstance(exc, UpstreamError):
                    headers_out += _retry_advice(exc)
                elif isinstance(exc, UserRateLimited):
                    headers_out.append(("retry-after", f"{exc.retry_after_s:.0f}"))
                await send_error(send, GatewayError(exc.status, message, exc.error_type), headers_out)
        except asyncio.CancelledError:
            if not self.in_flight.was_stopped():
                record.status, record.error = CLIENT_CLOSED, "the client closed the connection"
                raise
            record.error = STOPPED  # the status stays 200 for a stream that had started, as for a provider's cut
            if not streaming_started:
                record.status = 503
            await _tell_stopped(send, streaming_started, route_headers_of(record))
            raise
        except Exception as exc:  # a bug of ours: log it fully, answer without internals
            record.status = 500
            record.error = f"internal error: {type(exc).__name__}"
            error = self._internal_error(exc, record.request_id, runtime)
            if not streaming_started:
                await send_error(send, error)
        finally:
            record.latency_ms = round((time.perf_counter() - started) * 1000, 3)
            if ticket is not None:
                self._settle_ticket(ticket, record)
            self._settle(runtime, record)
            for sink in self.sinks:
                sink(record)

    def _within_budgets(self, runtime: Runtime, route: routing.Route, record: RequestRecord) -> tuple[Target, ...]:
        """The route's targets, or its budget's `then` target when a budget of the primary is spent; a spent budget
        without `then` refuses the request (429, which Claude Code shows)."""
        primary = route.primary
        decision = runtime.accounts.check(primary.provider.name, primary.model, route.name, record.user)
        if decision is None:
            return route.targets
        for warning in decision.warnings:
            self.log.warn("budget near its cap", request_id=record.request_id, budget=warning)
        record.budget = decision.budget
        if decision.refused:
            raise decision.error()
        if decision.target is None:
            return route.targets
        then = runtime.config.resolve(",".join(decision.target))
        if then is None:  # validated at load time; a hand-built config may still lack it
            raise GatewayError(500, f"Budget {decision.budget!r} sends requests to {decision.target}, not configured.")
        return (then,)

    async def _admit(self, user: User, route: routing.Route, estimate: int) -> Ticket | None:
        """Refuse a route the user was not given (403), or a request over their rate limit (429); the rate limit's
        ticket when they have one."""
        refusal = route_refusal(user, route.scenario, route.name)
        if refusal is not None:
            raise refusal
        if user.rate_limit is None:
            return None
        return await self.rate_limiter.admit(user.name, user.rate_limit, estimate)

    def _settle_ticket(self, ticket: Ticket, record: RequestRecord) -> None:
        """The user's rate limit counts what the provider reported, once known."""
        used = used_tokens(
            record.input_tokens,
            record.output_tokens,
            record.cache_read_input_tokens,
            record.cache_creation_input_tokens,
        )
        if used is not None:
            self.rate_limiter.settle(ticket, used)

    def _settle(self, runtime: Runtime, record: RequestRecord) -> None:
        """Cost, budgets (and the routers' shared totals) and the ledger row; a fault there is logged, never the
        request's."""
        try:
            charges = runtime.accounts.settle(record)
            if self.shared_budgets is not None and charges:
                self.shared_budgets.charge(charges)
        except Exception as exc:
            self.log.error("request not accounted", request_id=record.request_id, error=f"{type(exc).__name__}: {exc}")

    async def _ask_custom_router(self, runtime: Runtime, request: MessagesRequest, request_id: str) -> str | None:
        if runtime.custom_router is None:
            return None
        return await ask_custom_router(runtime.custom_router, request.body, runtime.config.raw, self.log, request_id)

    def _note_unused_custom_choice(self, facts: routing.Facts, route: routing.Route, request_id: str) -> None:
        if facts.custom_choice and route.scenario is not Scenario.CUSTOM:
            self.log.warn(
                "custom router chose a provider or model that is not configured; using the configured rules",
                request_id=request_id,
                returned=facts.custom_choice,
            )

    # -----------------------------------------------------------------------------------------------------------
    # POST /v1/messages/count_tokens

    async def count_tokens(self, raw: bytes, send: Send) -> None:
        try:
            body = parse_json_object(raw)
        except GatewayError as exc:
            await send_error(send, exc)
            return
        try:
            count = await estimate_body(body, len(raw))
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


async def _send_reply(
    reply: Reply, stream: bool, route_headers: list[tuple[str, str]], send: Send, record: RequestRecord
) -> None:
    """A whole reply: as it is, or as the stream the client asked for (the provider ignored `stream: true`)."""
    record.take_usage(reply.usage)
    record.stop_reason = reply.stop_reason
    if stream:
        await start_stream(send, route_headers)
        await end_stream(send, encode_events(whole_message_events(reply.message)))
    else:
        await send_bytes(send, 200, reply.body, route_headers)


async def _tell_stopped(send: Send, streaming_started: bool, headers: list[tuple[str, str]]) -> None:
    """A request ended by a stopping service: an `overloaded_error` event ends a started stream, else a 503 says it
    (Claude Code retries both). uvicorn refuses a second response start (a plain answer cut mid-body): then the
    connection's closing is all the client gets."""
    with contextlib.suppress(RuntimeError):
        if streaming_started:
            await end_stream(send, encode_event("error", error_body("overloaded_error", STOPPED)))
        else:
            await send_error(send, GatewayError(503, STOPPED, "overloaded_error"), headers)


def _retry_advice(exc: UpstreamError) -> list[tuple[str, str]]:
    """What a provider failure tells the client about trying again. ccrouter has already spent its retries and
    fallbacks, so Claude Code's own ten retries would only make the user wait minutes for the same error
    (`x-should-retry: false`, which Anthropic's SDKs honour), unless the provider said when to come back."""
    if exc.retry_after_s is not None:
        return [("retry-after", str(math.ceil(exc.retry_after_s)))]
    return [("x-should-retry", "false")]


def route_headers_of(record: RequestRecord) -> list[tuple[str, str]]:
    """The response headers that say how a request was routed: its id, scenario, target and attempts."""
    headers = [("request-id", record.request_id)]
    if record.scenario:
        headers.append(("x-ccr-route", record.scenario))
        if record.pinned:
            headers.append(("x-ccr-pinned", "true"))
    if record.provider:
        headers += [("x-ccr-provider", record.provider), ("x-ccr-model", record.model or "")]
    if record.attempts:
        headers.append(("x-ccr-attempts", attempts_header(record.attempts)))
    if record.budget:
        headers.append(("x-ccr-budget", record.budget))
    return headers


def _trace(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(exc))[-4000:]
