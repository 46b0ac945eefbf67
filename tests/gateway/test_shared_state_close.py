"""`SharedState.close` at the service's stop returns even when a background loop lost its cancellation.

On Python 3.11 a task cancelled just as an `asyncio.wait_for` inside it finishes carries on as if it had not been
cancelled (CPython gh-86296, fixed in 3.12), and redis-py sends every command through `asyncio.wait_for` when a
socket timeout is set (STATE_URL's client sets one). A refresh loop caught there at the stop looped on, and
`close` waited for it with no deadline: the service's lifespan never ended and the process had to be killed. The
work here does what redis-py's send does, against a real Redis; the stop lands one to four loop turns after the
work began, which covers the window on this Python (and costs nothing where there is none).
"""

from __future__ import annotations

import asyncio

import pytest

from ccrouter.config.state_section import StateSettings
from ccrouter.gateway.logs import Logger
from ccrouter.gateway.shared_state import CLOSE_TIMEOUT_S, SharedState
from tests.support.redis_server import redis_server_fixture, redis_url_fixture  # noqa: F401 (fixtures)

DEADLINE_S = 10.0


async def sent() -> str:
    return "OK"


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 4])
def test_close_ends_a_loop_whose_cancellation_was_lost_within_its_deadline(redis_url: str, turns: int) -> None:
    async def scenario() -> tuple[bool, bool]:
        state = SharedState(StateSettings(redis_url), Logger(None))
        working = asyncio.Event()

        async def refresh() -> None:  # what redis-py's Connection.send_packed_command does with a socket timeout
            working.set()
            await asyncio.wait_for(sent(), 1.0)

        state.every(0.0, refresh)
        await state.start()
        await asyncio.wait_for(working.wait(), DEADLINE_S)
        for _ in range(turns):
            await asyncio.sleep(0)
        try:
            async with asyncio.timeout(DEADLINE_S):
                await state.close()
        except TimeoutError:
            return False, False
        return True, not asyncio.all_tasks() - {asyncio.current_task()}  # nothing of the state runs on

    loop = asyncio.new_event_loop()
    try:
        closed, loops_ended = loop.run_until_complete(scenario())
    finally:
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        if left:
            loop.run_until_complete(asyncio.wait(left, timeout=1.0))
        loop.close()
    assert closed, f"close() did not return within {DEADLINE_S:g} s (its own deadline is {CLOSE_TIMEOUT_S:g} s)"
    assert loops_ended, "a refresh loop outlived close()"
