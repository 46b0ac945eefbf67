"""What a user of the config's `Users` may do: the routes they were given, and their rate limit.

The rate limit counts requests and tokens per user over the last minute (a sliding window): a request is admitted
while the user has sent fewer than `requests_per_minute` in the last 60 s and its estimated input tokens fit
under `tokens_per_minute` beside the tokens of those requests; a request that ends corrects its count to the
tokens the provider reported (input, cached and output). A lone request larger than the whole token limit is
admitted when the window holds no tokens (else it could never pass), and then fills the window. Over the limit:
HTTP 429 `rate_limit_error` naming the limit, with `retry-after` when the window frees enough.

`RateLimiter` is the interface: this process's `InMemoryRateLimiter` today; a shared one (several workers or
instances counting together, e.g. in Redis) implements the same two calls, `admit` awaited before dispatch and
`settle` called (without awaiting: it may queue its write) when the request ends.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ccrouter.config.scenarios import Scenario
from ccrouter.config.users_section import RateLimit, User
from ccrouter.errors import GatewayError

WINDOW_S = 60.0


class UserRateLimited(GatewayError):
    """A user over their rate limit: 429, and when to retry (`retry-after`)."""

    def __init__(self, user: str, limit: str, retry_after_s: float) -> None:
        self.retry_after_s = max(1.0, math.ceil(retry_after_s))
        super().__init__(
            429,
            f"User {user!r} is over their rate limit of {limit} (Users[].rate_limit in the router's config); it "
            f"frees up in {self.retry_after_s:.0f} s. Retry then, or ask the router's admin to raise the limit.",
            "rate_limit_error",
        )


@dataclass(slots=True)
class Ticket:
    """One admitted request in its user's window: when, and how many tokens it counts for."""

    user: str
    at: float
    tokens: int
    live: bool = True  # False once it has left the window (a late `settle` then changes nothing)


class RateLimiter(Protocol):
    async def admit(self, user: str, limit: RateLimit, tokens: int) -> Ticket:
        """Count a request of `user` estimated at `tokens` input tokens; raises UserRateLimited when over."""

    def settle(self, ticket: Ticket, tokens: int) -> None:
        """The admitted request ended having used `tokens` (what the provider reported)."""


@dataclass(slots=True)
class _Window:
    tickets: deque[Ticket] = field(default_factory=deque)
    tokens: int = 0


class InMemoryRateLimiter:
    """Every user's requests of the last `window_s` seconds, in this process (`clock`: monotonic seconds)."""

    def __init__(self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    async def admit(self, user: str, limit: RateLimit, tokens: int) -> Ticket:
        return self.admit_now(user, limit, tokens)

    def admit_now(self, user: str, limit: RateLimit, tokens: int) -> Ticket:
        """`admit`, synchronously (nothing here waits)."""
        now = self._clock()
        window = self._trimmed(user, now)
        rpm, tpm = limit.requests_per_minute, limit.tokens_per_minute
        if rpm is not None and len(window.tickets) >= rpm:
            raise UserRateLimited(user, f"{rpm} requests per minute", window.tickets[0].at + self.window_s - now)
        if tpm is not None and window.tokens and window.tokens + tokens > tpm:
            raise UserRateLimited(user, f"{tpm} tokens per minute", self._frees_at(window, tpm - tokens) - now)
        ticket = Ticket(user, now, tokens)
        window.tickets.append(ticket)
        window.tokens += tokens
        return ticket

    def settle(self, ticket: Ticket, tokens: int) -> None:
        window = self._windows.get(ticket.user)
        if ticket.live and window is not None:
            window.tokens += tokens - ticket.tokens
        ticket.tokens = tokens

    def _trimmed(self, user: str, now: float) -> _Window:
        """The user's window without the requests older than `window_s`."""
        window = self._windows.get(user)
        if window is None:
            window = self._windows[user] = _Window()
        while window.tickets and window.tickets[0].at <= now - self.window_s:
            gone = window.tickets.popleft()
            gone.live = False
            window.tokens -= gone.tokens
        return window

    def _frees_at(self, window: _Window, room: int) -> float:
        """When the tokens in the window fall to `room` or below (or to none), as requests leave it."""
        remaining = window.tokens
        for ticket in window.tickets:
            remaining -= ticket.tokens
            if remaining <= max(room, 0):
                return ticket.at + self.window_s
        return window.tickets[-1].at + self.window_s if window.tickets else self._clock()


def route_refusal(user: User, scenario: Scenario, route_name: str) -> GatewayError | None:
    """403 when `user` was not given the route a request was routed to; None when they may use it."""
    if user.may_use(scenario.value):
        return None
    what = route_name if route_name == scenario.value else f"{route_name} (route {scenario.value})"
    if scenario is Scenario.EXPLICIT:
        what = 'explicit (the request named "provider,model", or a model picked in /model)'
    return GatewayError(
        403,
        f"User {user.name!r} may not use route {what}; their routes are: {user.routes_text()}. Pick a model of "
        "those routes, or ask the router's admin to add the route to their Users[].routes.",
        "permission_error",
    )


def used_tokens(input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> int | None:
    """What a finished request counts for against tokens_per_minute; None when the provider reported nothing
    (the estimate then stands: a request that failed midway may still have cost tokens)."""
    total = input_tokens + output_tokens + cache_read + cache_write
    return total or None
