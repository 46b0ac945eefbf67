"""Slowing down key guessing: a wrong APIKEY is answered after a short wait, and a client that guesses faster
than that is refused before its key is even looked at.

A wait alone does not bound the guessing rate: a client that sends its guesses in parallel waits for all of them
at once. So each client (an IPv4 address, or an IPv6 /64: what one machine can cheaply use) has a queue: its
failures are answered one per `delay_s`, at most `max_queued` of them waiting. A request of that client that comes
while its queue is full gets a 429 before its key is checked, so a parallel guess learns nothing, not even that
it was right. Across all clients at most `max_waiting` failures wait; past that every request that needs the key
is refused the same way until the queue drains: a flood from many addresses must not buy fast answers, and the
waiting tasks stay bounded. A request with the right key from a client that is not guessing is never delayed and
changes nothing here. Nothing blocks the event loop: a failure waits in its own request's task.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from functools import lru_cache
from typing import Any

from ccrouter.errors import GatewayError

DELAY_S = 0.25  # between two answered failures of one client: at most 4 guesses a second per address
MAX_QUEUED = 4  # a client's failures waiting at once
MAX_WAITING = 256  # all clients' failures waiting at once
CAPACITY = 4096  # clients remembered (the least recently failing one is forgotten first)


class AuthFailures:
    """The failure queues of the clients that recently sent a wrong key."""

    def __init__(
        self,
        delay_s: float = DELAY_S,
        max_queued: int = MAX_QUEUED,
        max_waiting: int = MAX_WAITING,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.delay_s = delay_s
        self.max_queued = max_queued
        self.max_waiting = max_waiting
        self.capacity = capacity
        self._clock = clock
        self._free_at: OrderedDict[str, float] = OrderedDict()  # when each client's queue is empty again
        self.waiting = 0

    def refusal(self, client: str) -> tuple[GatewayError, float] | None:
        """A 429 and its Retry-After in seconds while `client`'s queue (or everyone's) is full; None when its key
        may be checked. Ask before checking the key, and call `wait_turn` at once after a failure."""
        now = self._clock()
        if self.waiting >= self.max_waiting:
            return _too_many("from many addresses", self.delay_s * self.max_queued)
        backlog = self._free_at.get(client, now) - now
        room = (self.max_queued - 1) * self.delay_s  # a failure now would wait backlog + delay_s
        if backlog > room + 1e-9:
            return _too_many("from your address", backlog - room)
        return None

    async def wait_turn(self, client: str) -> None:
        """Wait until this failure of `client` may be answered: `delay_s` after its previous one."""
        now = self._clock()
        answer_at = max(now, self._free_at.get(client, now)) + self.delay_s
        self._free_at[client] = answer_at
        self._free_at.move_to_end(client)
        while len(self._free_at) > self.capacity:
            self._free_at.popitem(last=False)
        self.waiting += 1
        try:
            await asyncio.sleep(answer_at - now)
        finally:
            self.waiting -= 1


def client_of(scope: MutableMapping[str, Any]) -> str:
    """The client's address as one guesser: an IPv4 address, an IPv6 /64 (an IPv4-mapped one as IPv4)."""
    peer = scope.get("client")
    return _guesser(str(peer[0]) if peer else "")


@lru_cache(maxsize=1024)
def _guesser(host: str) -> str:
    """Parsed once per address: every request with a key asks."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # a Unix socket or an unusual server: one queue for all of them
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return host


def _too_many(source: str, retry_after_s: float) -> tuple[GatewayError, float]:
    error = GatewayError(
        429,
        f"Too many failed authentication attempts {source}: requests that need the APIKEY are refused for a moment "
        "so that it cannot be guessed. Check the key you send (the router's APIKEY, as x-api-key or Authorization: "
        "Bearer) and retry in a few seconds.",
        "rate_limit_error",
    )
    return error, max(1.0, math.ceil(retry_after_s))
