"""Budgets' spend shared through Redis (`STATE_URL`): a budget crossed through one router stops the others.

Each budget's current period is one Redis key, `<prefix>budget:<owner>:<name>:<period start>`, holding the spend
of every router as a decimal string; it expires an hour past the period's end. A finished request's cost is added
with INCRBYFLOAT in the background (the request never waits on it). The first router to find a key missing (the
first of the period, or a Redis that restarted empty) seeds it with its own figure, which started from the ledger:
a script does it atomically, so two routers cannot both seed. Before each budget check the request reads the keys
of the budgets it may meet, within STATE_TIMEOUT_MS, and the process's books take in the larger figures
(`BudgetBook.adopt`): a charge that has reached Redis is seen by the very next check of every router. What can
still pass a cap is what was in flight across all routers when it was crossed, plus, per router, the requests that
end in the moment (well under a millisecond here) between a request's end and its charge landing in Redis.
A background loop also reads every budget once a second, for `ccr status` and `/metrics` of a router that is idle.
While Redis does not answer, each router counts its own spend only, as without STATE_URL (`SharedState` says so
once); charges made meanwhile are not added to Redis afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ccrouter.gateway.shared_state import SharedState
from ccrouter.ledger.budgets import BudgetBook, Charge, PeriodSpend

if TYPE_CHECKING:
    from redis.asyncio import Redis

STATUS_REFRESH_S = 1.0

# KEYS the periods' keys; ARGV for each, its seed and its expiry (Unix ms). Returns each total as text.
READ = """
local totals = {}
for i, key in ipairs(KEYS) do
  local total = redis.call('GET', key)
  if not total then
    total = ARGV[2 * i - 1]
    redis.call('SET', key, total)
    redis.call('PEXPIREAT', key, ARGV[2 * i])
  end
  totals[i] = total
end
return totals
"""

# KEYS[1] the period's key; ARGV usd, the seed when it is missing, expiry (Unix ms). Returns the new total as text.
CHARGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[2]) end
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return total
"""


class SharedBudgets:
    """The routers' shared budget totals, read before a budget check and added to after each request.
    `all_books` gives the current config's books (they change with a reload) for the background refresh."""

    def __init__(self, state: SharedState, all_books: Callable[[], Sequence[BudgetBook]]) -> None:
        self.state = state
        self._all_books = all_books
        state.every(STATUS_REFRESH_S, self.refresh_all)

    async def refresh(self, books: Sequence[BudgetBook]) -> None:
        """Bring `books` up to the shared totals (within STATE_TIMEOUT_MS; as they are when Redis does not answer)."""
        periods = [period for book in books for period in book.periods()]
        if not periods:
            return
        keys = tuple(self._key(period.key) for period in periods)
        args = tuple(value for period in periods for value in _seed(period))
        answer = await self.state.call(lambda redis: _run(redis, READ, keys, args))
        if answer is None:
            return
        totals = {period.key: float(total) for period, total in zip(periods, answer, strict=True)}
        for book in books:
            book.adopt(totals)

    async def refresh_all(self) -> None:
        await self.refresh(self._all_books())

    def charge(self, charges: Sequence[Charge]) -> None:
        """Add a finished request's charges to the shared totals, without the request waiting."""
        for charge in charges:
            self.state.later(self._charging(charge))

    def _charging(self, charge: Charge) -> Callable[[Redis], Awaitable[Any]]:
        keys = (self._key(charge.key),)
        args = (repr(charge.usd), repr(charge.spent_before), _ms(charge.expires_at))
        return lambda redis: _run(redis, CHARGE, keys, args)

    def _key(self, period_key: str) -> str:
        return f"{self.state.prefix}budget:{period_key}"


def _seed(period: PeriodSpend) -> tuple[str, int]:
    return repr(period.spent), _ms(period.expires_at)


def _ms(moment: float) -> int:
    return round(moment * 1000)


async def _run(redis: Redis, script: str, keys: tuple[str, ...], args: tuple[str | int, ...]) -> Any:
    return await redis.eval(script, len(keys), *keys, *args)
