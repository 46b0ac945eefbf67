"""Counting the calls a piece of hot-path code makes, without a clock: what the per-request cost tests assert on
(a clock would make them depend on the machine and its load)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def calls_made(work: Callable[..., object], *args: Any) -> list[str]:
    """The names of the Python and C functions `work(*args)` calls (itself and what it calls, in order): no
    wrapper of ours is among them."""
    calls: list[str] = []

    def note(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            calls.append(frame.f_code.co_name)
        elif event == "c_call":
            calls.append(getattr(arg, "__name__", "?"))

    sys.setprofile(note)
    try:
        work(*args)
    finally:
        sys.setprofile(None)
    return calls
