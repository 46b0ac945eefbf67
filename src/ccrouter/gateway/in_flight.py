"""What a service is serving when it is told to stop, and the stop's timeline: every step has a deadline.

SIGTERM (`ccr stop`, a restart, systemd, a supervisor) ends a service within `STOP_BOUND_S` whatever it is doing:

1. It stops accepting connections and closes the idle ones (uvicorn). Feeds that never end by themselves (the
   dashboard's live view) are ended at once.
2. The requests in flight get `DRAIN_S` to finish. Those still running then are ended (`InFlight.stop_all`): a
   stream that has started gets an `overloaded_error` event, a request not yet answered a 503 `overloaded_error`,
   both saying to send it again; their records and ledger rows say so too.
3. `ABORT_S` later uvicorn gives up on whatever still holds a connection (a client that reads nothing).
4. Closing (`CLOSE_S`, all at once): the ledger rows still waiting are written (those the database cannot take by
   then are counted in one log line), the provider connections and STATE_URL's Redis client are closed.
5. A watchdog (`shutdown.py`) ends the process at `STOP_BOUND_S` if any step above hangs, saying in the log which
   one it was stuck in.

`InFlight` holds each request's handler task, so that a stopping service can end them, and a request can tell that
it was ended by the stop rather than left by its client.
"""

from __future__ import annotations

import asyncio
from typing import Any

DRAIN_S = 5.0  # the requests in flight when the stop begins may finish within this
ABORT_S = 1.0  # after DRAIN_S: the ended requests' last words; then uvicorn drops what still holds a connection
SETTLE_S = 0.5  # the requests uvicorn dropped get this long to record themselves before the ledger closes
CLOSE_S = 2.0  # the ledger's last rows, the provider connections and Redis: closed together within this
STOP_BOUND_S = 10.0  # from the signal to the exit, whatever hangs (the watchdog's deadline)

STOPPED = (
    "ccrouter is stopping (SIGTERM: `ccr stop`, a restart or the service manager) and ended this request, which "
    f"was still running {DRAIN_S:g} s after the stop began. Send it again: a running router will answer it."
)


class InFlight:
    """The handler tasks of the requests being served: `answers` (the /v1/messages requests, which may finish
    within DRAIN_S) and `feeds` (streams without an end of their own, ended as soon as the stop begins)."""

    def __init__(self) -> None:
        self._answers: set[asyncio.Task[Any]] = set()
        self._feeds: set[asyncio.Task[Any]] = set()
        self._stopped: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._answers) + len(self._feeds)

    def enter(self, task: asyncio.Task[Any], *, answer: bool) -> None:
        (self._answers if answer else self._feeds).add(task)
        self._idle.clear()

    def leave(self, task: asyncio.Task[Any]) -> None:
        self._answers.discard(task)
        self._feeds.discard(task)
        self._stopped.discard(task)
        if not self:
            self._idle.set()

    def stop_feeds(self) -> int:
        """End every feed; how many there were."""
        return self._stop(self._feeds)

    def stop_all(self) -> int:
        """End everything still being served; how many there were. A task already ended that still runs is
        cancelled again: it may have lost the first cancellation (shared_state.py says how)."""
        return self._stop(self._feeds) + self._stop(self._answers)

    def was_stopped(self, task: asyncio.Task[Any] | None = None) -> bool:
        """Whether `task` (by default the current one) was ended by the stop, not by its client going away."""
        return (task if task is not None else asyncio.current_task()) in self._stopped

    async def settled(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every request to be done; whether they are."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def _stop(self, tasks: set[asyncio.Task[Any]]) -> int:
        running = [task for task in tasks if not task.done()]
        for task in running:
            self._stopped.add(task)
            task.cancel()
        return len(running)
