"""A cool-down's reason quotes the provider, which may echo its key: the reason is redacted when it is made, with
the keys of the config its request ran on, so a key rotated away since is not shown in clear by /api/cooldowns."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.security.streams import PROVIDER_KEY, REQUEST, WIRE_FORMATS, provider
from tests.support.fake_upstream import ScriptedUpstream, error_reply
from tests.support.inprocess import InProcessRouter, ServeRouter
from tests.support.router_setup import LOOPBACK

NEW_KEY = "sk-prov-rotated-9876543210"


def config(upstream: ScriptedUpstream, wire: str, key: str) -> dict[str, Any]:
    return {
        "Providers": [provider(upstream, wire, key=key)],
        "Router": {"default": "prov,m"},
        "RETRY": {"max_retries": 0},
    }


def wait_for_reload(router: InProcessRouter, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(r["msg"] == "config reloaded" for r in router.log_records()):
            return
        time.sleep(0.05)
    raise AssertionError(f"the config was not reloaded: {router.log_records()}")


@pytest.mark.parametrize("wire", WIRE_FORMATS)
def test_a_rotated_key_is_not_shown_in_cooldown_reasons(
    upstream: ScriptedUpstream, serve_router: ServeRouter, wire: str
) -> None:
    echo = {"error": {"message": f"rate limited for key {PROVIDER_KEY}", "type": "rate_limit_error", "code": 429}}
    upstream.queue(error_reply(429, echo, {"retry-after": "120"}))
    router = serve_router(config(upstream, wire, PROVIDER_KEY))
    response = LOOPBACK.post(router.url + "/v1/messages", json=REQUEST, timeout=20)
    assert response.status_code == 429, response.text
    router.write_config(config(upstream, wire, NEW_KEY))
    wait_for_reload(router)
    cooling = LOOPBACK.get(router.url + "/api/cooldowns", timeout=10)
    assert cooling.status_code == 200
    reasons = [c["reason"] for c in cooling.json()["cooling"]]
    assert reasons and "rate limited" in reasons[0], cooling.text
    assert PROVIDER_KEY not in cooling.text


def test_a_rotated_url_credential_is_not_shown_in_cooldown_reasons(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    """A secret the adapter does not know (one in its URL) is taken out with the keys of the request's config."""
    old, new = "url-secret-OLD-0123456789", "url-secret-NEW-9876543210"

    def url_config(secret: str) -> dict[str, Any]:
        data = config(upstream, "openai", PROVIDER_KEY)
        data["Providers"][0]["api_base_url"] += f"?access_token={secret}"
        return data

    echo = {"error": {"message": f"rate limited for token {old}", "type": "rate_limit_error"}}
    upstream.queue(error_reply(429, echo, {"retry-after": "120"}))
    router = serve_router(url_config(old))
    assert LOOPBACK.post(router.url + "/v1/messages", json=REQUEST, timeout=20).status_code == 429
    router.write_config(url_config(new))
    wait_for_reload(router)
    cooling = LOOPBACK.get(router.url + "/api/cooldowns", timeout=10)
    assert "rate limited" in cooling.text
    assert old not in cooling.text
