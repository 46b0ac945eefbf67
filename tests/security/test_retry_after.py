"""A provider's `Retry-After` that is not a finite number of seconds (inf, 1e400, nan) is treated as absent, and a
negative one as 0: the client gets a clean Anthropic-shaped error, never a plain-text 500."""

from __future__ import annotations

import pytest

from tests.security.streams import REQUEST, single_provider_config
from tests.support.fake_upstream import ScriptedUpstream, error_reply
from tests.support.inprocess import ServeRouter
from tests.support.router_setup import LOOPBACK

FAST_RETRY = {"max_retries": 1, "initial_backoff_ms": 20, "max_backoff_ms": 50}


@pytest.mark.parametrize("header", ["retry-after", "retry-after-ms"])
@pytest.mark.parametrize("value", ["inf", "1e400", "nan", "-5", "-inf", "Infinity"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_retry_after_that_is_no_number_of_seconds_is_ignored(
    upstream: ScriptedUpstream, serve_router: ServeRouter, header: str, value: str, stream: bool
) -> None:
    upstream.default = lambda _: error_reply(429, {"error": {"message": "slow down"}}, {header: value})
    router = serve_router(single_provider_config(upstream, "openai", RETRY=FAST_RETRY))
    response = LOOPBACK.post(router.url + "/v1/messages", json={**REQUEST, "stream": stream}, timeout=20)
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "slow down" in body["error"]["message"]
    if value == "-5":  # "now"
        assert response.headers["retry-after"] == "0"
    else:  # nothing of the provider's nonsense is passed on
        assert "retry-after" not in response.headers
        assert response.headers["x-should-retry"] == "false"
