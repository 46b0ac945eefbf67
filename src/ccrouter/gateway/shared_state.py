"""The Redis that several routers share their live state through (`STATE_URL`): one client per process.

Redis helps only while it answers fast, so every call runs within `STATE_TIMEOUT_MS` (50 ms by default). A call
that fails or overruns marks Redis down: from then on calls return None at once (the callers use this process's
own state) while a probe pings Redis every `PROBE_INTERVAL_S`; its first answer marks it up again. Each change is
one log line, never one per request. `redis` is imported only here and only when STATE_URL is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ccrouter.config.state_section import StateSettings
from ccrouter.gateway.logs import Logger

if TYPE_CHECKING:
    from redis.asyncio import Redis

T = TypeVar("T")
PROBE_INTERVAL_S = 0.5
PROBE_TIMEOUT_S = 1.0
LOOP_ERROR_PAUSE_S = 1.0
CLOSE_TIMEOUT_S = 1.0  # at the stop (in_flight.py's CLOSE_S leaves room for it)


class SharedState:
    """The client, whether Redis is answering (`up`), and the loops that keep caches fresh while it is."""

    def __init__(self, settings: StateSettings, log: Logger) -> None:
        self.prefix = settings.prefix
        self.timeout_s = settings.timeout_ms / 1000
        self.log = log
        self.up = True
        self._url = settings.url
        self._client: Redis | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[tuple[float, Callable[[], Awaitable[None]]]] = []
        self._probing = False
        self._closed = False  # the loops end on it too: a cancellation can be lost (`close`)

    @property
    def client(self) -> Redis:
        if self._client is None:  # first use: the import costs ~50 ms, paid only by routers with STATE_URL
            from redis.asyncio import Redis

            self._client = Redis.from_url(
                self._url, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=PROBE_TIMEOUT_S
            )
        return self._client

    def every(self, interval_s: float, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` every `interval_s` while the service runs (registered before `start`)."""
        self._loops.append((interval_s, work))

    async def start(self) -> None:
        """At the service's start: connect (so that the first request does not pay for it) and start the loops;
        Redis being down now is logged and probed like any outage."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                await self.client.ping()
        except Exception as exc:
            self._went_down(exc)
        for interval_s, work in self._loops:
            self._spawn(self._repeat(interval_s, work))

    async def close(self) -> None:
        """At the service's stop: end the loops and close the client, within CLOSE_TIMEOUT_S (a Redis that stopped
        answering is left to the process's exit). A loop's cancellation can be lost: on Python 3.11 a task cancelled
        just as an `asyncio.wait_for` inside it finishes (redis-py sends every command through one) carries on as if
        nothing happened, so the loops also end at their next turn once `_closed` is set."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.gather(*self._tasks, return_exceptions=True)
                if self._client is not None:
                    await self._client.aclose()
        except TimeoutError:
            self.log.warn("shared state (STATE_URL) not closed in time; the connection is dropped at exit")

    async def call(
        self, what: Callable[[Redis], Awaitable[T]], *, timeout_s: float | None = None, vital: bool = True
    ) -> T | None:
        """`what(client)` within the time budget (STATE_TIMEOUT_MS unless `timeout_s`); None when it fails or
        overruns, or at once while Redis is down. A `vital` call (what requests wait on) that fails marks Redis down;
        a background one that is not (the dashboard's feed: large batches, a generous budget) only gives up, so a
        slow batch on a busy host never sends every request to its own process's state."""
        if not self.up:
            return None
        try:
            async with asyncio.timeout(self.timeout_s if timeout_s is None else timeout_s):
                return await what(self.client)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # redis errors, OSError, TimeoutError: all mean "not now"
            if vital:
                self._went_down(exc)
            return None

    def later(self, what: Callable[[Redis], Awaitable[Any]]) -> None:
        """`call`, without the caller waiting for it (a write the request need not see done)."""
        if self.up:
            self._spawn(self.call(what))

    def _went_down(self, exc: BaseException) -> None:
        if not self.up:
            return
        self.up = False
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self.log.error(
            "shared state (STATE_URL) unreachable; this process uses its own cool-downs and rate limits until it "
            "answers again",
            error=detail[:300],
            timeout_ms=round(self.timeout_s * 1000),
        )
        if not self._probing:
            self._probing = True
            self._spawn(self._probe())

    async def _probe(self) -> None:
        """Ping until Redis answers, then mark it up (one log line)."""
        try:
            while not self._closed:
                await asyncio.sleep(PROBE_INTERVAL_S)
                try:
                    async with asyncio.timeout(PROBE_TIMEOUT_S):
                        # The pooled connections predate the outage: a restarted Redis has closed them.
                        await self.client.connection_pool.disconnect()
                        await self.client.ping()
                except Exception:
                    continue
                self.up = True
                self.log.info("shared state (STATE_URL) answers again; cool-downs and rate limits are shared again")
                return
        finally:
            self._probing = False

    async def _repeat(self, interval_s: float, work: Callable[[], Awaitable[None]]) -> None:
        while not self._closed:
            await asyncio.sleep(interval_s)
            if not self.up or self._closed:
                continue
            try:
                await work()
            except Exception as exc:  # a bug of ours: said once a second at most, the loop goes on
                self.log.error("shared state refresh failed", error=f"{type(exc).__name__}: {exc}"[:300])
                await asyncio.sleep(LOOP_ERROR_PAUSE_S)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
