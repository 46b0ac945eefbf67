"""The ASGI application: HTTP routes, body reading, auth, client-disconnect handling and the lifespan.

Plain ASGI rather than a framework: the hot path is one dict lookup away from the gateway.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from dataclasses import dataclass
from typing import Any

from ccrouter import tokens
from ccrouter.config.users_section import User
from ccrouter.errors import GatewayError
from ccrouter.gateway.auth import admin_only, check_api_key, check_host, check_origin, find_user, wrong_user_key
from ccrouter.gateway.auth_failures import AuthFailures, client_of
from ccrouter.gateway.connections import ConnectionGauge
from ccrouter.gateway.in_flight import CLOSE_S, DRAIN_S, SETTLE_S
from ccrouter.gateway.journey import Gateway
from ccrouter.gateway.logs import Logger
from ccrouter.gateway.metrics import Metrics
from ccrouter.gateway.model_list import models_page
from ccrouter.gateway.off_loop import in_daemon_thread, outcome_by
from ccrouter.gateway.reload import ConfigWatcher
from ccrouter.gateway.responses import Receive, Send, send_bytes, send_error, send_json
from ccrouter.gateway.shared_state import SharedState
from ccrouter.gateway.upstream import Upstream

Handler = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]
SESSIONS_PATH = "/api/sessions/"
COOLDOWNS_PATH = "/api/cooldowns"
BUDGETS_PATH = "/api/budgets"
METRICS_PATH = "/metrics"
MODELS_PATH = "/v1/models"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: a user of the config's `Users`, or (`user` None) the admin: the APIKEY's holder, or
    anyone on this machine without an APIKEY."""

    user: User | None = None


ADMIN = Caller()


class App:
    def __init__(
        self,
        gateway: Gateway,
        upstream: Upstream,
        log: Logger,
        watcher: ConfigWatcher | None = None,
        *,
        tune_gc: bool = True,
        gauge: ConnectionGauge | None = None,
    ) -> None:
        self.gateway = gateway
        self.upstream = upstream
        self.log = log
        self.watcher = watcher
        self.tune_gc = tune_gc  # off where the app is not alone in its process (tests serving many apps)
        self.gauge = gauge  # open and most connections, when served by connections.py's protocol
        self._background: list[asyncio.Task[None]] = []
        self.auth_failures = AuthFailures()  # wrong keys wait, guessers are refused (auth_failures.py)
        self._mounted: tuple[tuple[str, ...], Handler] | None = None  # the dashboard (`mount`)
        self.shared: SharedState | None = None  # STATE_URL's Redis: started and closed with the service
        self.in_flight = gateway.in_flight  # what a stopping service ends (in_flight.py)
        self.stop_phase = "serving"  # where a stop is: the watchdog's last words name it (shutdown.py)
        self._drain: asyncio.TimerHandle | None = None  # the end of the stop's drain (begin_stop)
        upstream.on_out_of_files = log.error  # once per burst; each request's own line says 503 as well

    def mount(self, prefixes: tuple[str, ...], handler: Handler) -> None:
        """Hand requests whose path starts with one of `prefixes` to `handler` (server.py mounts the dashboard)."""
        self._mounted = (prefixes, handler)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if not self.gateway.runtime.config.apikey:  # with a key, any Host: a rebinding page cannot know the key
            foreign_host = check_host(scope["headers"])
            if foreign_host is not None:
                await send_error(send, foreign_host)
                return
        if method == "POST" and path.startswith("/v1/messages"):
            headers = _headers(scope)
            caller = await self.caller(scope, headers, send)
            if caller is None:
                return
            raw = await self._read_body(receive, send)
            if raw is None:
                return
            if path == "/v1/messages":
                await self.until_disconnect(
                    self.gateway.messages(headers, raw, send, caller.user), receive, answer=True
                )
            elif path == "/v1/messages/count_tokens":
                await self.gateway.count_tokens(raw, send)
            else:
                await send_error(send, _not_found(method, path))
        elif path == "/health" and method in ("GET", "HEAD"):
            await send_json(send, 200, self._health())
        elif method == "GET" and path == MODELS_PATH:
            await self._models(scope, send)
        elif method == "GET" and path == COOLDOWNS_PATH:
            await self._cooldowns(scope, send)
        elif method == "GET" and path == BUDGETS_PATH:
            await self._budgets(scope, send)
        elif method == "GET" and path == METRICS_PATH:
            await self._metrics(scope, send)
        elif method == "GET" and path.startswith(SESSIONS_PATH):
            await self._session(path[len(SESSIONS_PATH) :], scope, send)
        elif self._mounted is not None and path.startswith(self._mounted[0]):
            await self._mounted[1](scope, receive, send)
        elif method == "HEAD" and path in ("/", "/api/hello"):
            await send_bytes(send, 200, b"", content_type=False)
        else:
            await send_error(send, _not_found(method, path))

    async def _session(self, session_id: str, scope: MutableMapping[str, Any], send: Send) -> None:
        """GET /api/sessions/{id}: what served the session's latest request (for `ccr statusline`)."""
        if await self.caller(scope, _headers(scope), send) is None:
            return
        activity = self.gateway.activity.get(session_id)
        if activity is None:
            await send_error(
                send, GatewayError(404, f"No request of session {session_id[:100]!r} yet.", "not_found_error")
            )
            return
        await send_json(send, 200, {**activity.as_dict(), "budget": self._budget_note()})

    def _health(self) -> dict[str, Any]:
        """Alive, and how many client connections are open of the most it holds (`ccr status` shows them)."""
        if self.gauge is None:
            return {"status": "ok"}
        return {"status": "ok", "connections": {"open": self.gauge.open, "max": self.gauge.capacity}}

    async def _models(self, scope: MutableMapping[str, Any], send: Send) -> None:
        """GET /v1/models: the routes and models Claude Code's `/model` offers (model discovery)."""
        if await self.caller(scope, _headers(scope), send) is None:
            return
        await send_json(send, 200, models_page(self.gateway.runtime.config))

    async def _cooldowns(self, scope: MutableMapping[str, Any], send: Send) -> None:
        """GET /api/cooldowns: the targets every route skips for now (for `ccr status`)."""
        if await self.refused(scope, _headers(scope), send):
            return
        redact = self.gateway.runtime.redact  # a reason quotes the provider, which may echo its key
        cooling = self.gateway.cooldowns.all_cooling(time.monotonic())
        await send_json(send, 200, {"cooling": [{**c.as_dict(), "reason": redact(c.reason)} for c in cooling]})

    async def _metrics(self, scope: MutableMapping[str, Any], send: Send) -> None:
        """GET /metrics: Prometheus text (behind APIKEY like the rest)."""
        if await self.refused(scope, _headers(scope), send):
            return
        metrics = next((sink for sink in self.gateway.sinks if isinstance(sink, Metrics)), None)
        if metrics is None:
            await send_error(send, _not_found("GET", METRICS_PATH))
            return
        text, content_type = metrics.render()
        await send_bytes(send, 200, text, [("content-type", content_type)], content_type=False)

    def _budget_note(self) -> str | None:
        """For the statusline: the budgets past their warning share, e.g. "daily budget 85% ($4.25 of $5.00)"."""
        notes = [
            f"{b.name} budget {b.spent_usd / b.usd:.0%} (${b.spent_usd:.2f} of ${b.usd:.2f})"
            for b in self.gateway.runtime.accounts.budget_status()
            if b.state != "ok"
        ]
        return "; ".join(notes) or None

    async def _budgets(self, scope: MutableMapping[str, Any], send: Send) -> None:
        """GET /api/budgets: each budget's spend this period and its state (for `ccr status`)."""
        if await self.refused(scope, _headers(scope), send):
            return
        budgets = self.gateway.runtime.accounts.budget_status()
        await send_json(send, 200, {"budgets": [budget.as_dict() for budget in budgets]})

    async def refused(self, scope: MutableMapping[str, Any], headers: dict[str, str], send: Send) -> bool:
        """Whether the request was refused (and answered): a wrong APIKEY (after its client's turn in the failure
        queue), a client guessing keys, a user's key (this endpoint is the admin's), or without an APIKEY a foreign
        browser Origin."""
        return await self.caller(scope, headers, send, users_welcome=False) is None

    async def caller(
        self, scope: MutableMapping[str, Any], headers: dict[str, str], send: Send, *, users_welcome: bool = True
    ) -> Caller | None:
        """Who sends the request: the admin (the APIKEY, or anyone without one) or, with `Users`, a user by their
        key (where `users_welcome`); None after refusing it as `refused` says."""
        config = self.gateway.runtime.config
        if not config.apikey:
            denied = check_origin(headers)
            if denied is not None:
                await send_error(send, denied)
            return ADMIN if denied is None else None
        client = client_of(scope)
        refusal = self.auth_failures.refusal(client)  # before the key is looked at: a guess must learn nothing
        if refusal is not None:
            error, retry_after_s = refusal
            await send_error(send, error, [("retry-after", f"{retry_after_s:.0f}")])
            return None
        denied = check_api_key(headers, config.apikey)
        if denied is None:
            return ADMIN
        user = find_user(headers, config.users) if config.users else None
        if user is not None:
            if users_welcome:
                return Caller(user)
            await send_error(send, admin_only(scope["path"]))  # a right key: no wait
            return None
        await self.auth_failures.wait_turn(client)
        await send_error(send, wrong_user_key() if config.users else denied)
        return None

    async def _read_body(self, receive: Receive, send: Send) -> bytes | None:
        """The whole request body; None (after answering 413) when it is over MAX_REQUEST_BODY_MB."""
        limit = self.gateway.runtime.config.max_body_bytes
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body") and len(body) <= limit:
            return body
        parts = [body]
        size = len(body)
        while size <= limit and message.get("more_body"):
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            parts.append(chunk)
        if size > limit:
            await send_error(
                send,
                GatewayError(
                    413,
                    f"The request body is larger than MAX_REQUEST_BODY_MB ({limit / (1024 * 1024):g} MB). "
                    "Shorten the conversation (/compact), or raise MAX_REQUEST_BODY_MB in the config.",
                    "request_too_large",
                ),
            )
            return None
        return b"".join(parts)

    async def until_disconnect(
        self, work: Coroutine[Any, Any, None], receive: Receive, *, answer: bool = False
    ) -> None:
        """Run `work` in this task, cancelling it the moment the client disconnects (which closes the upstream
        connection too), or when a stopping service ends it: an `answer` (a /v1/messages request) after DRAIN_S, a
        feed (the dashboard's) at once. uvicorn reports a disconnect only through `receive`, so one small task
        waits on it."""
        handler = asyncio.current_task()
        assert handler is not None
        finished = False

        async def watch() -> None:
            message = await receive()  # also returns once the response is complete: `finished` tells them apart
            if not finished and message["type"] == "http.disconnect":
                handler.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        self.in_flight.enter(handler, answer=answer)
        try:
            await work
        except asyncio.CancelledError:
            if not (watcher.done() or self.in_flight.was_stopped(handler)):
                raise  # cancelled from outside: uvicorn's own shutdown deadline
            handler.uncancel()
        finally:
            finished = True
            watcher.cancel()
            self.in_flight.leave(handler)

    def begin_stop(self) -> None:
        """The service was told to stop (shutdown.py, as uvicorn stops accepting connections): feeds end now, the
        requests in flight get DRAIN_S to finish before they are ended."""
        self.stop_phase = "draining the requests in flight"
        feeds = self.in_flight.stop_feeds()
        self.log.info("stopping", requests_in_flight=len(self.in_flight) - feeds, feeds_ended=feeds, drain_s=DRAIN_S)
        self._drain = asyncio.get_running_loop().call_later(DRAIN_S, self._end_requests)

    def _end_requests(self) -> None:
        self.stop_phase = "ending the requests still in flight after the drain, and closing their connections"
        ended = self.in_flight.stop_all()
        if ended:
            self.log.warn(
                "stopping: requests still running after the drain were ended; their clients were told to send them "
                "again",
                requests=ended,
                drain_s=DRAIN_S,
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.upstream.start()
                # Load the tokenizer vocabulary off the event loop so /health answers at once.
                asyncio.get_running_loop().run_in_executor(None, _settle if self.tune_gc else tokens.preload)
                if self.watcher is not None:
                    watching = asyncio.create_task(self.watcher.run())
                    watching.add_done_callback(self._watcher_ended)
                    self._background.append(watching)
                if self.shared is not None:
                    await self.shared.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shut_down()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _shut_down(self) -> None:
        """The lifespan's end, once uvicorn has closed the connections (or given up on them): what it left running
        records itself (SETTLE_S), then the ledger's last rows, the provider connections and Redis are closed
        together, each within CLOSE_S (in_flight.py's timeline)."""
        self.stop_phase = "closing the ledger, the provider connections and Redis"
        for task in self._background:
            task.cancel()
        if self._drain is not None:
            self._drain.cancel()
        self.in_flight.stop_all()  # only what uvicorn's deadline left: normally every request is done by now
        await self.in_flight.settled(SETTLE_S)
        closing = (self._close_ledger(), self.upstream.close(CLOSE_S), self._close_shared())
        for failure in await asyncio.gather(*closing, return_exceptions=True):
            if isinstance(failure, Exception):  # a bug of ours: the rest still closes, the stop goes on
                self.log.error("closing at the stop failed", error=f"{type(failure).__name__}: {failure}")
        self.log.close()

    async def _close_ledger(self) -> None:
        """The rows still in memory, then the store. In a thread of its own: the default executor's may all be
        stuck on the same database (the dashboard reads the ledger there)."""
        ledger = self.gateway.runtime.ledger
        if ledger is not None:
            closing = in_daemon_thread(ledger.close, name="ccr-ledger-close")
            outcome = await outcome_by(asyncio.get_running_loop().time() + CLOSE_S + SETTLE_S, closing)
            if outcome is not None:
                outcome.result()  # what it raised, for _shut_down to report

    async def _close_shared(self) -> None:
        if self.shared is not None:
            await self.shared.close()

    def ledger_rows_waiting(self) -> int:
        """Rows queued for the ledger and not yet being written (for the stop watchdog's last words)."""
        ledger = self.gateway.runtime.ledger
        writer = ledger.writer if ledger is not None else None
        return writer.stats().pending if writer is not None else 0

    def _watcher_ended(self, task: asyncio.Task[None]) -> None:
        """The config watcher only ends when cancelled (at shutdown); should it ever end otherwise, say so."""
        if not task.cancelled() and task.exception() is not None:
            self.log.error(
                "hot reload stopped; restart the service to apply config changes", error=repr(task.exception())
            )


def _headers(scope: MutableMapping[str, Any]) -> dict[str, str]:
    """The request headers by lower-case name (ASGI servers give them lower-cased)."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _settle() -> None:
    """Start-up work that can wait: the tokenizer vocabulary, then taking everything loaded so far out of the
    garbage collector's sight. Each request allocates a few thousand short-lived containers (a parsed
    conversation); with the default thresholds the collector ran several times per large request and
    re-scanned every long-lived object each time."""
    tokens.preload()
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def _not_found(method: str, path: str) -> GatewayError:
    return GatewayError(
        404,
        f"{method} {path[:200]} is not an endpoint of ccrouter. It serves POST /v1/messages, "
        "POST /v1/messages/count_tokens and GET /health.",
        "not_found_error",
    )
