"""Big request bodies against the real service: memory stays flat and the event loop stays free.

- Token counts of large texts are remembered by digest, within a byte budget: distinct large requests used to
  leave each text resident as a cache key (RSS +6.5 MB per distinct 3.3 MB text, without bound).
- Counting a large body runs in a worker thread (tiktoken encodes it with the GIL released) and at most
  `tokens.EXACT_CHARS` of it exactly: one 40 MB body used to hold `/health` for 3-6 s.
"""

from __future__ import annotations

import random
import string
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.security.streams import single_provider_config
from tests.support.dead_ends import refused_port
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, openai_text_reply
from tests.support.router_process import RouterProcess
from tests.support.router_setup import StartRouter

_rng = random.Random(13)
_WORDS = ["".join(_rng.choices(string.ascii_lowercase, k=_rng.randint(2, 9))) for _ in range(20_000)]
_PROSE = " ".join(_rng.choices(_WORDS, k=200_000))  # ~1.2 MB of words, repeated to any length
MB = 1024 * 1024

HEALTH_BOUND_S = 1.0  # /health while a big body is counted (the old code: 3-6 s for 40 MB)


def prose(chars: int, tag: str) -> str:
    """`chars` characters of words, starting with `tag` so that each text is distinct."""
    return (tag + " " + _PROSE * (chars // len(_PROSE) + 1))[:chars]


def messages_body(chars: int, tag: str) -> bytes:
    return orjson.dumps({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": prose(chars, tag)}]})


def rss_mb(router: RouterProcess) -> float:
    """The service process's resident memory (VmRSS), in MB."""
    assert router.proc is not None
    for line in Path(f"/proc/{router.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line in /proc/PID/status")


def client() -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=httpx.Timeout(120.0, connect=5.0))


def count_tokens(http: httpx.Client, router: RouterProcess, body: bytes) -> int:
    response = http.post(router.url + "/v1/messages/count_tokens", content=body)
    assert response.status_code == 200, response.text[:300]
    return int(response.json()["input_tokens"])


def answered(received: Received) -> Scripted:
    return openai_text_reply("ok", stream=False)


@pytest.fixture
def router(upstream: ScriptedUpstream, start_router: StartRouter) -> RouterProcess:
    upstream.default = answered
    return start_router(single_provider_config(upstream, "openai"))


def test_distinct_large_texts_do_not_stay_resident(router: RouterProcess) -> None:
    size, distinct = 3_500_000, 8  # below tokens.EXACT_CHARS: each is counted exactly, and its count cached
    with client() as http:
        first = count_tokens(http, router, messages_body(size, "warm-up"))  # the allocator's pools grown once
        before = rss_mb(router)
        for i in range(distinct):
            assert abs(count_tokens(http, router, messages_body(size, f"distinct-{i}")) - first) < 10
        grown = rss_mb(router) - before
    # The old code kept every text as a cache key: ~+52 MB here (+6.5 MB a text); now ~+3-6 MB, then flat.
    assert grown < 14, f"RSS grew {grown:.1f} MB over {distinct} distinct {size / MB:.1f} MB texts"


class BigRequest:
    """One big POST sent from a thread, so that the test can ask `/health` meanwhile."""

    def __init__(self, url: str, body: bytes) -> None:
        self.url = url
        self.body = body
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._send, daemon=True)

    def start(self) -> BigRequest:
        self._thread.start()
        return self

    def in_flight(self) -> bool:
        return self._thread.is_alive()

    def _send(self) -> None:
        try:
            with client() as http:
                self.response = http.post(self.url, content=self.body, headers={"content-type": "application/json"})
        except BaseException as exc:  # surfaced by `finish`
            self.error = exc

    def finish(self, timeout: float = 60.0) -> httpx.Response:
        self._thread.join(timeout)
        assert self.error is None, repr(self.error)
        assert self.response is not None, f"no answer within {timeout} s"
        return self.response


def health_latencies_during(requests: list[BigRequest], router: RouterProcess, deadline_s: float = 60.0) -> list[float]:
    """How long each `/health` took that was asked while any of `requests` was in flight (at least one)."""
    latencies: list[float] = []
    ends_at = time.monotonic() + deadline_s
    with client() as http:
        while time.monotonic() < ends_at:
            in_flight = any(r.in_flight() for r in requests)
            started = time.perf_counter()
            assert http.get(router.url + "/health").status_code == 200
            if not in_flight and latencies:
                return latencies
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)  # pacing only: the loop ends when the requests do
    raise AssertionError(f"the big requests were not answered within {deadline_s} s")


@pytest.mark.parametrize("path", ["/v1/messages/count_tokens", "/v1/messages"])
def test_health_answers_while_a_big_body_is_counted(router: RouterProcess, path: str) -> None:
    big = BigRequest(router.url + path, messages_body(40 * MB, f"big {path}")).start()
    latencies = health_latencies_during([big], router)
    assert big.finish().status_code == 200
    assert max(latencies) < HEALTH_BOUND_S, f"/health took {max(latencies):.2f} s (all: {_rounded(latencies)})"


def test_concurrent_big_counts_leave_health_free(router: RouterProcess) -> None:
    url = router.url + "/v1/messages/count_tokens"
    bigs = [BigRequest(url, messages_body(25 * MB, f"concurrent-{i}")).start() for i in range(4)]
    latencies = health_latencies_during(bigs, router)
    assert all(big.finish().status_code == 200 for big in bigs)
    assert max(latencies) < HEALTH_BOUND_S, f"/health took {max(latencies):.2f} s (all: {_rounded(latencies)})"


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 2) for v in values]


def test_big_requests_to_a_provider_that_refuses_do_not_stay_resident(start_router: StartRouter) -> None:
    """A failed attempt's error used to keep its traceback, and with it the forwarded body, in a reference cycle
    that the service's tuned garbage collector left alone: +75 MB per 25 MB request to a refused port."""
    with refused_port() as port:
        config = {
            "Providers": [
                {"name": "gone", "api_base_url": f"http://127.0.0.1:{port}/v1/chat/completions", "models": ["m"]}
            ],
            "Router": {"default": "gone,m"},
            "RETRY": {"max_retries": 0},
        }
        router = start_router(config)
        with client() as http:
            body = messages_body(8 * MB, "warm-up")
            assert http.post(router.url + "/v1/messages", content=body).status_code == 502
            before = rss_mb(router)
            for i in range(6):
                response = http.post(router.url + "/v1/messages", content=messages_body(8 * MB, f"refused-{i}"))
                assert response.status_code == 502, response.text[:300]
            grown = rss_mb(router) - before
    assert grown < 40, f"RSS grew {grown:.0f} MB over six 8 MB requests that failed"
