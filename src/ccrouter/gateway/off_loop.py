"""Running the user's code off the event loop, so that a slow or stuck custom router, or a plugin that takes its
time to import on hot reload, never holds up other requests or `/health`.

Daemon threads rather than an executor's: a Python call that never returns cannot be stopped, and an executor's
threads are waited for when the process exits (asyncio waits for its default executor at shutdown), so one stuck
call would keep `ccr stop` waiting. A one-off call gets a thread of its own (`in_daemon_thread`); calls made per
request go to a `DaemonPool`, whose threads wait for the next call (starting a thread costs about 0.2 ms, handing
a call to a waiting one a few hundredths of that). Whatever the code raises, SystemExit and
KeyboardInterrupt included, comes back as an `Outcome` value: raised inside an asyncio task's step, those two
would stop the event loop itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

# Tasks given up on (past their time limit) but maybe still running: kept referenced until they end, so the
# garbage collector never destroys one mid-flight.
_ABANDONED: set[asyncio.Future[Any]] = set()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a call of user code ended with: its value, or what it raised."""

    value: Any = None
    error: BaseException | None = None

    def result(self) -> Any:
        """The value, or the exception raised again (in the caller's coroutine, where it can be caught)."""
        if self.error is not None:
            raise self.error
        return self.value


def in_daemon_thread(function: Callable[[], Any], name: str) -> asyncio.Future[Outcome]:
    """Start `function` in a new daemon thread; the future gets its `Outcome`. Cancelling the future only drops
    the answer: the thread runs on until the function returns."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Outcome] = loop.create_future()
    threading.Thread(target=lambda: _deliver(loop, future, _called(function)), name=name, daemon=True).start()
    return future


_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Outcome]", Callable[[], Any]]


class DaemonPool:
    """Daemon threads that wait for calls between them. A call never waits for a busy thread: with none idle, a new
    one starts, so a thread stuck in a call only costs a thread (the caller bounds how many calls run at once)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._idle = 0  # threads that will take the next job without one waiting for them
        self._lock = threading.Lock()

    def submit(self, function: Callable[[], Any]) -> asyncio.Future[Outcome]:
        """Call `function` in one of the pool's threads; the future gets its `Outcome` (cancelling it only drops
        the answer)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        with self._lock:
            if self._idle == 0:
                threading.Thread(target=self._work, name=self._name, daemon=True).start()
            else:
                self._idle -= 1
        self._jobs.put((loop, future, function))
        return future

    def _work(self) -> None:
        while True:
            loop, future, function = self._jobs.get()
            _deliver(loop, future, _called(function))
            del loop, future, function  # hold on to nothing of a finished call while waiting for the next
            with self._lock:
                self._idle += 1


def guarded_task(awaitable: Awaitable[Any]) -> asyncio.Future[Outcome]:
    """`awaitable` run as its own task whose result is its `Outcome`: what it raises never reaches the loop."""

    async def guarded() -> Outcome:
        try:
            return Outcome(await awaitable)
        except BaseException as exc:  # the user's coroutine may raise anything, even what ends a program
            return Outcome(error=exc)

    return asyncio.ensure_future(guarded())


async def outcome_by(deadline: float, future: asyncio.Future[Outcome]) -> Outcome | None:
    """The future's `Outcome`, or None when the loop's clock passes `deadline` first (the future is then
    cancelled and forgotten). Cancelling the caller cancels the future too."""
    loop = asyncio.get_running_loop()
    try:
        done, _ = await asyncio.wait((future,), timeout=max(0.0, deadline - loop.time()))
    except asyncio.CancelledError:
        future.cancel()
        raise
    if not done:
        future.cancel()
        _ABANDONED.add(future)
        future.add_done_callback(_ABANDONED.discard)
        return None
    return future.result()


def _called(function: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(function())
    except BaseException as exc:  # handed to the waiting coroutine, whatever it is
        return Outcome(error=exc)


def _deliver(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    """Hand `outcome` to the loop (from a worker thread)."""
    with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile: nobody waits for the answer
        loop.call_soon_threadsafe(_settle, future, outcome)


def _settle(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():  # else given up on: the answer came too late
        future.set_result(outcome)
