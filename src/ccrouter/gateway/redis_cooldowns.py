"""Cool-downs shared through Redis (`STATE_URL`): a target one router rests is skipped by every router.

Each process still decides from what it sees (`Cooldowns`: N failures in the window, or a 429 with Retry-After)
and keeps its own rests in memory, so it behaves as before while Redis is away. What Redis adds: a rest that
starts or grows here is published (one hash, `<prefix>cooldowns`, field "provider,model", value
"until|since|reason" in Redis's own milliseconds, so the routers' clocks need not agree), and the rests of the
others are read every `REFRESH_S` by a background loop, never on a request's path: a rest learned elsewhere is
honoured here within that time. A success of an attempt that began after a shared rest began ends it for all, as
it does locally. The scripts run atomically in Redis; the hash expires with its longest rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ccrouter.config.policy import CooldownPolicy
from ccrouter.gateway.cooldowns import Cooldowns, Cooling
from ccrouter.gateway.shared_state import SharedState

if TYPE_CHECKING:
    from redis.asyncio import Redis

REFRESH_S = 0.25

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "

# KEYS[1] the hash; ARGV target, rest in ms, reason. A longer rest wins; a rest that is still on keeps its start.
PUBLISH = (
    _NOW
    + """
local rest = tonumber(ARGV[2])
local until_ms = now + rest
local since = now
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local old_until, old_since = string.match(old, '^(%d+)|(%d+)|')
  if tonumber(old_until) >= until_ms then return 0 end
  if tonumber(old_until) > now then since = tonumber(old_since) end
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d|%d|%s', until_ms, since, ARGV[3]))
if redis.call('PTTL', KEYS[1]) < rest then redis.call('PEXPIRE', KEYS[1], rest) end
return 1
"""
)

# KEYS[1] the hash; ARGV target, how long ago (ms) the attempt that succeeded began.
END = (
    _NOW
    + """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
local old_since = string.match(old, '^%d+|(%d+)|')
if now - tonumber(ARGV[2]) < tonumber(old_since) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""
)

# KEYS[1] the hash. Returns {now, target, value, ...} for the rests still on (the others are dropped).
READ = (
    _NOW
    + """
local found = {now}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local until_ms = tonumber(string.match(all[i + 1], '^(%d+)|'))
  if until_ms > now then
    found[#found + 1] = all[i]
    found[#found + 1] = all[i + 1]
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return found
"""
)


@dataclass(frozen=True, slots=True)
class _SharedRest:
    until: float  # this process's monotonic clock
    since: float
    reason: str


class SharedCooldowns(Cooldowns):
    """`Cooldowns` whose rests are also published to, and read from, the routers' Redis."""

    def __init__(self, state: SharedState, capacity: int = 1024) -> None:
        super().__init__(capacity)
        self.state = state
        self.key = f"{state.prefix}cooldowns"
        self._shared: dict[str, _SharedRest] = {}
        state.every(REFRESH_S, self.refresh)

    def failed(
        self, target: str, reason: str, now: float, policy: CooldownPolicy, retry_after_s: float | None = None
    ) -> float:
        before = self._local_until(target)
        seconds = super().failed(target, reason, now, policy, retry_after_s)
        after = self._local_until(target)
        if after > before and after > now:
            rest_ms = max(1, round((after - now) * 1000))
            self.state.later(lambda redis: self._run(redis, PUBLISH, target, rest_ms, reason))
        return seconds

    def succeeded(self, target: str, started: float, now: float, policy: CooldownPolicy) -> None:
        super().succeeded(target, started, now, policy)
        shared = self._shared.get(target)
        if shared is not None and shared.until > now and started >= shared.since:
            del self._shared[target]
            ago_ms = max(0, round((now - started) * 1000))
            self.state.later(lambda redis: self._run(redis, END, target, ago_ms))

    def cooling(self, target: str, now: float) -> Cooling | None:
        local = super().cooling(target, now)
        shared = self._shared.get(target)
        if shared is None or shared.until <= now or (local is not None and local.seconds_left >= shared.until - now):
            return local
        return Cooling(target, shared.until - now, shared.reason)

    def all_cooling(self, now: float) -> list[Cooling]:
        targets = set(self._health) | set(self._shared)
        found = (self.cooling(target, now) for target in targets)
        return sorted((c for c in found if c is not None), key=lambda c: c.target)

    async def refresh(self) -> None:
        """Read every router's rests (the background loop; a failure leaves the last ones read)."""
        answer = await self.state.call(lambda redis: self._run(redis, READ))
        if answer is None:
            return
        now = time.monotonic()
        server_now = int(answer[0])
        shared: dict[str, _SharedRest] = {}
        for raw_target, raw_value in zip(answer[1::2], answer[2::2], strict=True):
            until_ms, since_ms, reason = _text(raw_value).split("|", 2)
            shared[_text(raw_target)] = _SharedRest(
                now + (int(until_ms) - server_now) / 1000, now - (server_now - int(since_ms)) / 1000, reason
            )
        self._shared = shared

    def _local_until(self, target: str) -> float:
        health = self._health.get(target)
        return health.cooling_until if health is not None else 0.0

    async def _run(self, redis: Redis, script: str, *args: str | int) -> Any:
        return await redis.eval(script, 1, self.key, *args)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
