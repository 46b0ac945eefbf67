"""The dashboard's live feed shared through Redis (`STATE_URL`): every router's page shows every router's requests.

The request path gains nothing: its record reaches the `LiveFeed` ring as before (a deque append). A background
loop (`SharedState.every`, every `TICK_S` while Redis answers) picks up the records it has not seen yet, turns each
into the dict the detail panel shows (redacted with the current config's secrets: no key leaves the process) named
by this router's instance (host:pid), and adds them to one Redis stream, `<prefix>feed`, with XADD MAXLEN ~
`STREAM_MAXLEN` (the history a page opened later reads). The same pipeline reads what was added since its last read
(XREAD); the other routers' entries go into the feed (`LiveFeed.add_other`: the list, the detail and the stream),
its own are skipped, and one seen twice (a batch sent again after a call that failed half-way) is kept once.

Bounded everywhere: at most `OUTBOX_MAX` entries wait to be published, the oldest dropped and counted; a round
sends at most `BATCH_MAX` and reads at most `READ_MAX`, within `ROUND_TIMEOUT_S` (a round that overruns it is
not an outage: the requests' own calls to Redis, and their 50 ms budget, decide that). While
Redis is down the loop does not run, so only the ring (the latest 1000 records, kept anyway) holds this router's
records and the page shows them and the others' it had; when Redis answers again the loop publishes what the ring
still holds since its last pick-up and reads on where it stopped (the stream's ids are Redis's clock in ms, so a
Redis that restarted empty numbers its entries after the ones read before).
"""

from __future__ import annotations

import os
import socket
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from ccrouter.dashboard.live import LiveFeed
from ccrouter.gateway.records import RequestRecord
from ccrouter.gateway.shared_state import SharedState
from ccrouter.recent import Recent
from ccrouter.untrusted import clip

if TYPE_CHECKING:
    from redis.asyncio import Redis

TICK_S = 0.25
OUTBOX_MAX = 1000  # entries waiting to be published; past it the oldest are dropped
BATCH_MAX = 100  # entries published per round
READ_MAX = 100  # entries read per round
ROUNDS_PER_TICK = 12  # enough to read the whole stream's history in one tick
# A round's own time budget: a batch is large next to a request's calls, and a round that overruns it on a busy
# host only waits for the next tick (it does not mark Redis down for the requests, `SharedState.call`).
ROUND_TIMEOUT_S = 1.0
STREAM_MAXLEN = 1000  # the stream's length, trimmed approximately (whole nodes)
SEEN_MAX = 4 * STREAM_MAXLEN  # request ids of the others already taken in (a stream read again is skipped)
MAX_ENTRY_BYTES = 256 * 1024  # an entry past it is no record of ours: skipped
MAX_INSTANCE_CHARS = 120
STREAM_START = b"0-0"


def default_instance() -> str:
    """This router among the others: its host and process (a worker of WORKERS is a process of its own)."""
    return clip(f"{socket.gethostname()}:{os.getpid()}", MAX_INSTANCE_CHARS)


class Outbox:
    """This router's records not yet published, as encoded entries (at most `capacity`: past it the oldest are
    dropped and counted in `dropped`).

    The records are picked up from the feed's ring in the background after the last one picked up, so the request
    path keeps its single append. Records that left the ring before the loop came for them (over 1000 made while
    Redis was away) cannot be counted one by one without a counter on the request path: each such gap adds one to
    `gaps`."""

    def __init__(self, capacity: int = OUTBOX_MAX) -> None:
        self.capacity = capacity
        self.dropped = 0
        self.gaps = 0
        self._waiting: deque[bytes] = deque()
        self._last: RequestRecord | None = None

    def __len__(self) -> int:
        return len(self._waiting)

    def pick_up(self, ring: Sequence[RequestRecord], encode: Callable[[RequestRecord], bytes]) -> None:
        """Queue the records of `ring` (oldest first) that came after the last one picked up, encoded."""
        fresh = self._fresh(ring)
        if not fresh:
            return
        self._last = fresh[-1]
        too_many = max(0, len(fresh) - self.capacity)  # not even encoded: they would be dropped at once
        self.dropped += too_many
        self._waiting.extend(encode(record) for record in fresh[too_many:])
        self._trim()

    def take(self, count: int) -> list[bytes]:
        """The oldest `count` entries waiting (fewer when fewer wait), taken out."""
        return [self._waiting.popleft() for _ in range(min(count, len(self._waiting)))]

    def put_back(self, batch: list[bytes]) -> None:
        """`batch` (from `take`) waits again in front, for Redis did not take it; the oldest go if it is full."""
        self._waiting.extendleft(reversed(batch))
        self._trim()

    def _fresh(self, ring: Sequence[RequestRecord]) -> Sequence[RequestRecord]:
        if self._last is None:
            return ring
        for index in range(len(ring) - 1, -1, -1):
            if ring[index] is self._last:
                return ring[index + 1 :]
        self.gaps += 1
        return ring

    def _trim(self) -> None:
        while len(self._waiting) > self.capacity:
            self._waiting.popleft()
            self.dropped += 1


class SharedFeed:
    """Publishes `feed`'s records to the routers' stream and takes the other routers' in (see the module)."""

    def __init__(self, feed: LiveFeed, state: SharedState, instance: str | None = None) -> None:
        self.feed = feed
        self.state = state
        self.instance = instance or default_instance()
        self.key = f"{state.prefix}feed"
        self.outbox = Outbox()
        self._read_from = STREAM_START
        self._seen: Recent[bool] = Recent(SEEN_MAX)
        feed.instance = self.instance
        state.every(TICK_S, self.tick)

    async def tick(self) -> None:
        """Publish what waits and read what the others added, a round at a time until both are done."""
        self.outbox.pick_up(self.feed.snapshot(), self._encode)
        for _ in range(ROUNDS_PER_TICK):
            batch = self.outbox.take(BATCH_MAX)
            read = await self._round(batch)
            if read is None:  # Redis is down, or did not answer within the round's budget: the batch waits
                self.outbox.put_back(batch)
                return
            if read < READ_MAX and not self.outbox:
                return

    async def _round(self, batch: list[bytes]) -> int | None:
        """One pipeline: `batch` added, then the stream read on; how many entries it read, None when it failed."""
        answer = await self.state.call(
            lambda redis: self._exchange(redis, batch), timeout_s=ROUND_TIMEOUT_S, vital=False
        )
        if answer is None:
            return None
        entries = answer[0][1] if answer else []
        for entry_id, fields in entries:
            self._read_from = entry_id
            detail = _other(fields, self.instance)
            if detail is not None and self._seen.get(detail["request_id"]) is None:
                self._seen.put(detail["request_id"], True)
                self.feed.add_other(detail)
        return len(entries)

    async def _exchange(self, redis: Redis, batch: list[bytes]) -> list[Any]:
        async with redis.pipeline(transaction=False) as pipe:
            for entry in batch:
                pipe.xadd(self.key, {"i": self.instance, "r": entry}, maxlen=STREAM_MAXLEN, approximate=True)
            pipe.xread({self.key: self._read_from}, count=READ_MAX)
            replies = await pipe.execute()
        return list(replies[-1] or [])  # nothing new: an empty list, not None (which would mean a failure)

    def _encode(self, record: RequestRecord) -> bytes:
        return orjson.dumps(self.feed.detail(record))


def _other(fields: Any, own: str) -> dict[str, Any] | None:
    """Another router's entry as the feed keeps it; None for this router's own and for anything that is not a
    record this code published (another version's shape, a stranger writing to the key)."""
    if not isinstance(fields, dict) or not isinstance(fields.get(b"i"), bytes):
        return None
    instance = fields[b"i"].decode("utf-8", "replace")
    raw = fields.get(b"r")
    if not instance or instance == own or raw is None or len(raw) > MAX_ENTRY_BYTES:
        return None
    try:
        detail = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not _well_formed(detail):
        return None
    detail["instance"] = clip(instance, MAX_INSTANCE_CHARS)
    return detail  # type: ignore[no-any-return]


def _well_formed(detail: Any) -> bool:
    """What the feed relies on when it lists, sorts, filters and finds another router's record."""
    return (
        isinstance(detail, dict)
        and isinstance(detail.get("request_id"), str)
        and isinstance(detail.get("status"), int)
        and isinstance(detail.get("attempts"), list)
        and all(isinstance(detail.get(key), int | float) for key in ("time", "latency_ms"))
    )
