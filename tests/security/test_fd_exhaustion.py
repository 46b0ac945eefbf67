"""Running out of file descriptors is the router's own failure, not the provider's: no cool-down, no other target,
a 503 that says what to do, and one log line per burst. Against the real service process.

The service's descriptor table is filled exactly: once it has served a request through another provider of the
same format (so the adapter's modules are imported: importing opens files too), the test keeps one connection open
to it and lowers its limit (soft and hard, so the service cannot raise it again) to the lowest free descriptor
number. Requests on that connection then need no new descriptor until the router connects to the provider, which
fails with EMFILE. Lowering the limit after the start leaves the service's own start-up (and its connection cap, which
it derives from the limit) as it always is.
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.security.streams import REQUEST
from tests.support.fake_upstream import ScriptedUpstream, openai_completion
from tests.support.router_setup import StartRouter, openai_provider

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/fd")

OUT_OF_FILES = "ran out of file descriptors"


@pytest.fixture
def warm_upstream() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream().start()
    yield server
    server.stop()


def test_an_exhausted_descriptor_table_is_a_local_503_without_a_cool_down(
    start_router: StartRouter, upstream: ScriptedUpstream, warm_upstream: ScriptedUpstream
) -> None:
    upstream.default = lambda _received: openai_completion("served")  # a healthy provider, never reached
    warm_upstream.queue(openai_completion("warmed up"))
    providers = [openai_provider(upstream), openai_provider(warm_upstream, name="warm")]
    router = start_router({"Providers": providers, "Router": {"default": "fake,fake-model"}})
    assert router.proc is not None
    pid = router.proc.pid
    connection = http.client.HTTPConnection("127.0.0.1", router.port, timeout=30)
    try:
        # The tokenizer and the OpenAI adapter are loaded once this answers; the connection to "warm" stays pooled
        # (held, not reusable for "fake"), so nothing but the connection to "fake" needs a new descriptor.
        assert _exchange(connection, "POST", "/v1/messages", {**REQUEST, "model": "warm,fake-model"})[0] == 200
        _fill_descriptor_table(pid)
        answers = [_exchange(connection, "POST", "/v1/messages", REQUEST) for _ in range(2)]
        cooldowns = _exchange(connection, "GET", "/api/cooldowns")
    finally:
        connection.close()
    for status, body in answers:
        assert status == 503, body
        error = body["error"]
        assert error["type"] == "overloaded_error"
        assert f"ccrouter {OUT_OF_FILES}" in error["message"] and "'fake'" in error["message"]
        assert "ulimit -n" in error["message"] and "fewer" in error["message"]
        assert "all 3 attempts failed" not in error["message"]  # no retries, no fallback advice
    assert cooldowns == (200, {"cooling": []})
    assert upstream.received == []
    records = router.wait_for_records(3)[1:]  # after the warm-up's
    assert [r["status"] for r in records] == [503, 503]
    assert [len(r["attempts"]) for r in records] == [1, 1]  # one attempt each: no retry, no back-off round
    explained = [r for r in router.log_records() if r.get("level") == "error" and OUT_OF_FILES in r.get("msg", "")]
    assert len(explained) == 1, explained  # once for the burst, not once per request


def _fill_descriptor_table(pid: int) -> None:
    """Limit `pid` to the descriptors it holds now: its next socket fails with EMFILE."""
    held = {int(name) for name in os.listdir(f"/proc/{pid}/fd")}
    lowest_free = min(set(range(len(held) + 1)) - held)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, lowest_free))


def _exchange(
    connection: http.client.HTTPConnection, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    """One request on the kept-open connection; (status, JSON body)."""
    payload = json.dumps(body).encode() if body is not None else None
    connection.request(method, path, body=payload, headers={"content-type": "application/json"})
    response = connection.getresponse()
    return response.status, json.loads(response.read())
