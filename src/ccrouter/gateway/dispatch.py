"""Trying a route's targets until one answers: fallback, retries with back-off, and cool-downs.

A target is tried, and the next one after it, on 408, 409, 429, 5xx, a connection error or a time-out, and only
while nothing has reached the client: for a stream, until the provider's first translated bytes (or until the
commit window passes, after which the client's stream starts and keepalive pings flow); for a plain request,
until the whole reply is read and translated. Other 4xx go straight back to the client, and so does a failure of
this machine's (a `local` UpstreamError: out of file descriptors), for which no provider is blamed. When every
target has failed, the route is tried again after a back-off (the provider's `Retry-After`, up to a cap, else
exponential with jitter), a bounded number of times, all within API_TIMEOUT_MS. Each try becomes an `Attempt` the
response headers and the log line report. The network is a `Transport` (the gateway's is `upstream.Upstream`).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import orjson

from ccrouter.config.model import Config, Target
from ccrouter.errors import BadRequest, GatewayError, UpstreamError, drop_tracebacks
from ccrouter.gateway.cooldowns import Cooldowns, Cooling
from ccrouter.gateway.records import Attempt
from ccrouter.gateway.request import MessagesRequest
from ccrouter.providers.base import (
    Adapter,
    ForwardRequest,
    Reply,
    RequestContext,
    StreamTranslator,
    Transport,
    TransportResponse,
)

RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable(status: int) -> bool:
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


@dataclass(slots=True)
class Opened:
    """A target that answered: what the client gets comes from here."""

    target: Target
    adapter: Adapter
    ctx: RequestContext
    response: TransportResponse
    reply: Reply | None = None  # the whole translated reply (a plain request, or a provider that ignored `stream`)
    translator: StreamTranslator | None = None  # a stream: the translator, already fed
    first_bytes: bytes = b""  # a stream: the Anthropic SSE bytes translated before the commit
    ended: bool = False  # a stream: the provider's stream already ended (first_bytes holds the close)


@dataclass(slots=True)
class Plan:
    """One request's view of the route: the request, its targets, and the attempts made so far."""

    request: MessagesRequest
    request_id: str
    targets: tuple[Target, ...]
    input_tokens: int  # the local estimate
    attempts: list[Attempt] = field(default_factory=list)
    # The secrets of the config the request runs on, taken out of what outlives it (a cool-down's reason): a later
    # config may no longer know them.
    redact: Callable[[str], str] = str


class Dispatcher:
    def __init__(
        self,
        transport: Transport,
        cooldowns: Cooldowns,
        commit_window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.transport = transport
        self.cooldowns = cooldowns
        self.commit_window_s = commit_window_s
        self.on_cooldown: Callable[[str, float, str], None] | None = None  # (target, seconds, reason)
        self._clock = clock
        self._jitter = jitter

    async def open(self, plan: Plan, config: Config, adapter_for: Callable[[Target], Adapter]) -> Opened:
        """The first target that answers, or the last failure (an UpstreamError naming every attempt)."""
        deadline = self._clock() + config.api_timeout_ms / 1000
        policy = config.retry
        last: UpstreamError | None = None
        for round_no in range(policy.max_retries + 1):
            if last is not None:
                delay = self._backoff(round_no, last, config)
                if delay is None or self._clock() + delay >= deadline:
                    break
                await asyncio.sleep(delay)
            worth_another_round = False
            for target in self._round(plan):
                if last is not None and self._clock() >= deadline:
                    break
                try:
                    return await self._try(target, plan, config, adapter_for, deadline)
                except UpstreamError as exc:
                    if exc.local:  # this machine failed (out of file descriptors): every target would, alike
                        raise
                    if not is_retryable(exc.status):
                        raise self._final(exc, plan) from None
                    drop_tracebacks(exc)  # kept in `last`: its traceback would hold this frame (a cycle)
                    last = exc
                    worth_another_round = worth_another_round or exc.retry_later
            if not worth_another_round:
                break
        assert last is not None
        raise self._final(last, plan)

    def _round(self, plan: Plan) -> Iterator[Target]:
        """The route's targets in order, skipping (and noting) those cooling down, unless all of them are: better
        to try a resting target than to refuse without trying."""
        now = self._clock()
        states = [self.cooldowns.cooling(target.label, now) for target in plan.targets]
        if all(state is not None for state in states):
            yield from (t for _, t in sorted(zip(states, plan.targets, strict=True), key=_seconds_left))
            return
        for target, state in zip(plan.targets, states, strict=True):
            if state is None:
                yield target
            else:
                plan.attempts.append(Attempt(target, 0, f"cooling down for {state.seconds_left:.0f} s more"))

    async def _try(
        self,
        target: Target,
        plan: Plan,
        config: Config,
        adapter_for: Callable[[Target], Adapter],
        deadline: float,
    ) -> Opened:
        started = self._clock()
        attempt = Attempt(target, 0)
        plan.attempts.append(attempt)
        try:
            try:
                adapter = adapter_for(target)
            except GatewayError as exc:  # this target cannot be served at all (e.g. an adapter ccrouter lacks)
                raise UpstreamError(exc.status if exc.status >= 500 else 502, exc.message, exc.error_type) from None
            request = plan.request
            ctx = RequestContext(
                plan.request_id, target, request.stream, plan.input_tokens, request.headers, request.cache_key
            )
            try:
                forward = adapter.build_request(request.body, ctx)
            except orjson.JSONEncodeError:
                raise BadRequest(
                    "The request nests JSON more than 250 levels deep (in a tool input, a schema or a parameter), "
                    "which ccrouter cannot forward. Flatten that value."
                ) from None
            if adapter.credentials is not None:
                extra = await adapter.credentials.headers(self.transport, config.api_timeout_ms, config.proxy_url)
                forward = ForwardRequest(forward.url, {**forward.headers, **extra}, forward.body)
            attempt_timeout_ms = config.retry.attempt_timeout_ms
            ends = min(deadline, started + attempt_timeout_ms / 1000) if attempt_timeout_ms else deadline
            try:
                async with asyncio.timeout_at(_loop_time_at(ends, self._clock)):
                    opened = await self._open(target, adapter, ctx, forward, config)
            except TimeoutError:
                limit = (
                    f"RETRY.attempt_timeout_ms ({attempt_timeout_ms} ms)"
                    if ends < deadline
                    else f"API_TIMEOUT_MS ({config.api_timeout_ms} ms)"
                )
                raise UpstreamError(
                    504,
                    f"Provider {target.provider.name!r} (model {target.model}) did not answer within {limit}. "
                    "Try again, raise the limit, or route to another model.",
                    "timeout_error",
                ) from None
        except UpstreamError as exc:
            attempt.status, attempt.error = exc.status, exc.message
            attempt.ms = round((self._clock() - started) * 1000, 1)
            if is_retryable(exc.status) and not exc.local:  # a local failure is not the provider's fault
                reason = f"HTTP {exc.status}: {plan.redact(exc.message)[:300]}"
                seconds = self.cooldowns.failed(target.label, reason, self._clock(), config.cooldown, exc.retry_after_s)
                if seconds and self.on_cooldown is not None:
                    self.on_cooldown(target.label, seconds, reason)
            raise
        attempt.status = opened.response.status
        now = self._clock()
        attempt.ms = round((now - started) * 1000, 1)
        self.cooldowns.succeeded(target.label, started, now, config.cooldown)
        return opened

    async def _open(
        self, target: Target, adapter: Adapter, ctx: RequestContext, forward: ForwardRequest, config: Config
    ) -> Opened:
        response = await self.transport.post(forward, target.provider.name, config.api_timeout_ms, config.proxy_url)
        if response.status >= 400:
            raise await _provider_error(response, adapter, target)
        opened = Opened(target, adapter, ctx, response)
        try:
            if ctx.stream and not _is_json(response):
                await self._first_bytes(opened)
            else:  # a provider that ignores `stream: true` answers in one piece: the gateway streams it
                opened.reply = adapter.parse_reply(await response.read(), ctx)
        except BaseException:
            response.close()
            raise
        return opened

    async def _first_bytes(self, opened: Opened) -> None:
        """Feed the translator until it has something for the client, or the commit window passes (then the
        client's stream starts anyway so pings can keep it alive). A stream whose first event is an error (the
        translator's `error.at_start`) is a failed attempt like any other: nothing has reached the client."""
        translator = opened.translator = opened.adapter.stream_translator(opened.ctx)
        response = opened.response
        commit_at = self._clock() + self.commit_window_s
        out = b""
        while not out:
            wait = commit_at - self._clock()
            if wait <= 0:
                return
            try:
                async with asyncio.timeout(wait):
                    chunk = await response.next_chunk()
            except TimeoutError:
                return
            if not chunk:
                out = translator.finish()
                opened.ended = True
                break
            out = translator.feed(chunk)
        failure = translator.error
        if failure is not None and failure.at_start:  # it said nothing but that: a failed attempt like any other
            target = opened.target
            raise UpstreamError(
                502,
                f"Provider {target.provider.name!r} (model {target.model}) failed before its first token: "
                f"{failure.message[:1000]}",
                "api_error",
            )
        opened.first_bytes = out

    def _backoff(self, round_no: int, last: UpstreamError | None, config: Config) -> float | None:
        """Seconds to wait before going round again; None when a Retry-After asks for longer than the cap."""
        policy = config.retry
        if last is not None and last.retry_after_s is not None:
            if last.retry_after_s * 1000 > policy.max_retry_after_ms:
                return None
            return last.retry_after_s
        base = policy.initial_backoff_ms << min(round_no - 1, 20)
        return min(base, policy.max_backoff_ms) * (0.75 + 0.5 * self._jitter()) / 1000

    def _final(self, exc: UpstreamError, plan: Plan) -> UpstreamError:
        tried = [a for a in plan.attempts if a.status]
        if len(tried) <= 1:
            return exc
        summary = "; ".join(f"{a.label}: {_short(a)}" for a in plan.attempts)
        return UpstreamError(
            exc.status,
            f"{exc.message} (all {len(tried)} attempts failed: {summary}. "
            "Add or fix fallbacks for this route in the config's `fallback` section, or try again later.)",
            exc.error_type,
            exc.retry_after_s,
        )


def _seconds_left(pair: tuple[Cooling | None, Target]) -> float:
    return pair[0].seconds_left if pair[0] is not None else 0.0


def _is_json(response: TransportResponse) -> bool:
    return response.headers.get("content-type", "").startswith("application/json")


async def _provider_error(response: TransportResponse, adapter: Adapter, target: Target) -> UpstreamError:
    try:
        payload = await response.read()
    except UpstreamError:
        payload = b""
    detail = adapter.error_message(response.status, payload)
    return UpstreamError(
        response.status,
        f"Provider {target.provider.name!r} (model {target.model}) answered HTTP {response.status}: {detail}",
        retry_after_s=retry_after_seconds(response.headers),
    )


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms` (OpenAI) or `Retry-After` in seconds or as an HTTP date; None when absent or unreadable.

    A number that is not finite (`inf`, `1e400`, `nan`) is no delay at all, so it counts as absent (it would reach
    arithmetic and the client's `retry-after`, which need a real number); a negative one means now (0)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        milliseconds = _delay(value)
        if milliseconds is not None:
            return milliseconds / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _delay(value)
    if seconds is not None or _looks_numeric(value):
        return seconds
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def _delay(value: str) -> float | None:
    """A header's finite number, at least 0; None for anything else."""
    try:
        number = float(value)
    except ValueError:
        return None
    return max(0.0, number) if math.isfinite(number) else None


def _looks_numeric(value: str) -> bool:
    """Whether a header value was meant as a number (so it is no HTTP date either)."""
    try:
        float(value)
    except ValueError:
        return False
    return True


def _short(attempt: Attempt) -> str:
    if attempt.status == 0:
        return attempt.error or "skipped"
    return f"HTTP {attempt.status}"


def _loop_time_at(deadline: float, clock: Callable[[], float]) -> float:
    """The event loop's clock reading at `deadline` (given on `clock`)."""
    return asyncio.get_running_loop().time() + (deadline - clock())
