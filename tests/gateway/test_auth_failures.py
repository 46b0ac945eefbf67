"""The failure queues behind slowed-down wrong keys, on a fake clock: what one address and all of them may have
waiting, and which addresses count as one guesser. The real service is tested in tests/security/test_host_and_auth.py.
"""

from __future__ import annotations

import asyncio

from ccrouter.gateway.auth_failures import AuthFailures, client_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_queue_refuses_its_client_until_it_drains_and_others_go_on() -> None:
    clock = Clock()
    failures = AuthFailures(delay_s=0.25, max_queued=4, clock=clock)

    async def scenario() -> None:
        waits = []
        for _ in range(4):
            assert failures.refusal("10.0.0.1") is None
            waits.append(asyncio.ensure_future(failures.wait_turn("10.0.0.1")))
            await asyncio.sleep(0)  # it takes its turn (in the app the request's own task does, before any wait)
        refused = failures.refusal("10.0.0.1")
        assert refused is not None and refused[0].status == 429 and refused[1] >= 1
        assert failures.refusal("10.0.0.2") is None  # another address is not held up
        clock.now += 0.25  # one answered: room for one more
        assert failures.refusal("10.0.0.1") is None
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        assert failures.waiting == 0

    asyncio.run(scenario())


def test_too_many_waiting_failures_refuse_everyone() -> None:
    """A flood from many addresses must not buy fast answers: past `max_waiting`, every client is refused before
    its key is checked, and the waiting tasks stay bounded."""
    failures = AuthFailures(delay_s=0.25, max_queued=4, max_waiting=3, clock=Clock())

    async def scenario() -> None:
        waits = [asyncio.ensure_future(failures.wait_turn(f"10.0.0.{n}")) for n in range(3)]
        await asyncio.sleep(0)
        assert failures.waiting == 3
        refused = failures.refusal("192.168.1.9")
        assert refused is not None and "many addresses" in refused[0].message
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        assert failures.refusal("192.168.1.9") is None

    asyncio.run(scenario())


def test_the_table_of_clients_stays_bounded() -> None:
    failures = AuthFailures(delay_s=0.0, capacity=8, clock=Clock())

    async def scenario() -> None:
        for n in range(50):
            await failures.wait_turn(f"10.0.1.{n}")

    asyncio.run(scenario())
    assert len(failures._free_at) == 8


def test_one_machine_is_one_guesser() -> None:
    assert client_of({"client": ("203.0.113.7", 5000)}) == "203.0.113.7"
    same_64 = {client_of({"client": (f"2001:db8:1:2::{n:x}", 1)}) for n in range(1, 200)}
    assert same_64 == {"2001:db8:1:2::/64"}
    assert client_of({"client": ("2001:db8:1:3::1", 1)}) != "2001:db8:1:2::/64"
    assert client_of({"client": ("::ffff:198.51.100.4", 1)}) == "198.51.100.4"
    assert client_of({"client": None}) == client_of({})
