"""The one way tests wait for something to happen: poll the condition itself, never sleep for a guessed time.

A sleep long enough for a quiet laptop is too short for a loaded CI machine, and one long enough for CI wastes time
everywhere else. Polling the condition returns as soon as it holds, so the deadline can be generous: it is only
reached when the test is about to fail anyway."""

from __future__ import annotations

import time
from collections.abc import Callable, Sized
from typing import TypeVar

T = TypeVar("T")

DEADLINE_S = 30.0  # a loaded 2-core CI machine must not fail a test on the deadline: the condition decides
_SHOWN_CHARS = 200  # enough of the last value to see what it was, short enough for one line of a test report


def wait_until(
    condition: Callable[[], T],
    what: str,
    *,
    timeout: float = DEADLINE_S,
    interval: float = 0.02,
    explain: Callable[[], object] | None = None,
) -> T:
    """Poll `condition()` until it returns a truthy value, and return that value (so a caller can use what it
    waited for). After `timeout` seconds, fail naming `what` was awaited, with the last value if it says more
    than "not yet" (a 0, a wrong status), and what `explain()` says then (the router's log, a count)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            details = f"; {explain()!r}" if explain is not None else ""
            raise AssertionError(f"{what}: not within {timeout:g} s{_last_seen(value)}{details}")
        time.sleep(interval)


def _last_seen(value: object) -> str:
    """The last falsy value, if it is more telling than None, False or an empty container (which a condition
    returns for "nothing yet" whatever it was counting), shortened to one readable line."""
    if value is None or value is False or (isinstance(value, Sized) and len(value) == 0):
        return ""
    shown = repr(value)
    if len(shown) > _SHOWN_CHARS:
        shown = shown[:_SHOWN_CHARS] + "..."
    return f" (last seen: {shown})"
