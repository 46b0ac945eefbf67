"""Users' rate limits counted in Redis (`STATE_URL`), so a burst spread over several routers is cut at the limit.

The same sliding minute as `InMemoryRateLimiter`, kept per user in two keys: a sorted set of the admitted requests
scored by Redis's own clock (`<prefix>rl:<user>:at`) and a hash of the tokens each counts for (`...:tok`). One Lua
script trims the window, decides and counts, atomically: two routers admitting at once cannot both take the last
place. Both keys expire a window after the last request. `settle` corrects a request's tokens without the request
waiting (a request that has left the window is not counted again). While Redis does not answer within
STATE_TIMEOUT_MS, this process's own `InMemoryRateLimiter` admits (each router then counts its own share).
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ccrouter.config.users_section import RateLimit
from ccrouter.gateway.shared_state import SharedState
from ccrouter.gateway.user_limits import WINDOW_S, InMemoryRateLimiter, Ticket, UserRateLimited

if TYPE_CHECKING:
    from redis.asyncio import Redis

# KEYS the set and the hash; ARGV window ms, requests per minute (0: none), tokens per minute (0: none), id, tokens.
# Returns {1} when admitted, else {0, 1 (requests) or 2 (tokens), ms until enough of the window frees}.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, rpm, tpm, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)) do
  redis.call('HDEL', KEYS[2], gone)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if rpm > 0 and redis.call('ZCARD', KEYS[1]) >= rpm then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, 1, tonumber(first[2]) + window - now}
end
if tpm > 0 then
  local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  local total, each = 0, {}
  for i = 1, #entries, 2 do
    local n = tonumber(redis.call('HGET', KEYS[2], entries[i]) or '0')
    total = total + n
    each[#each + 1] = {tonumber(entries[i + 1]), n}
  end
  if total > 0 and total + tokens > tpm then
    local room, remaining = math.max(tpm - tokens, 0), total
    for _, entry in ipairs(each) do
      remaining = remaining - entry[2]
      if remaining <= room then return {0, 2, entry[1] + window - now} end
    end
    return {0, 2, window}
  end
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('HSET', KEYS[2], ARGV[4], tokens)
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[2], window)
return {1}
"""

# KEYS the hash; ARGV id, tokens: only a request still in the window is corrected.
SETTLE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0
"""


@dataclass(slots=True)
class SharedTicket(Ticket):
    """A request admitted by Redis: its id in the user's window there."""

    shared_id: str = ""


class RedisRateLimiter:
    """A `RateLimiter` over Redis, with this process's `InMemoryRateLimiter` for when Redis does not answer."""

    def __init__(self, state: SharedState, window_s: float = WINDOW_S) -> None:
        self.state = state
        self.window_ms = round(window_s * 1000)
        self.local = InMemoryRateLimiter(window_s)
        self._ids = itertools.count(1)
        self._id_prefix = f"{os.getpid():x}-{secrets.token_hex(4)}-"

    async def admit(self, user: str, limit: RateLimit, tokens: int) -> Ticket:
        shared_id = f"{self._id_prefix}{next(self._ids)}"
        rpm, tpm = limit.requests_per_minute, limit.tokens_per_minute
        args = (self.window_ms, rpm or 0, tpm or 0, shared_id, tokens)
        answer = await self.state.call(lambda redis: self._run(redis, ADMIT, self._keys(user), args))
        if answer is None:
            return self.local.admit_now(user, limit, tokens)
        if int(answer[0]) != 1:
            what = f"{rpm} requests per minute" if int(answer[1]) == 1 else f"{tpm} tokens per minute"
            raise UserRateLimited(user, what, int(answer[2]) / 1000)
        return SharedTicket(user, time.monotonic(), tokens, shared_id=shared_id)

    def settle(self, ticket: Ticket, tokens: int) -> None:
        if not isinstance(ticket, SharedTicket):
            self.local.settle(ticket, tokens)
            return
        ticket.tokens = tokens
        keys = self._keys(ticket.user)[1:]
        self.state.later(lambda redis: self._run(redis, SETTLE, keys, (ticket.shared_id, tokens)))

    def _keys(self, user: str) -> tuple[str, str]:
        base = f"{self.state.prefix}rl:{user}"
        return f"{base}:at", f"{base}:tok"

    async def _run(self, redis: Redis, script: str, keys: tuple[str, ...], args: tuple[str | int, ...]) -> Any:
        return await redis.eval(script, len(keys), *keys, *args)
