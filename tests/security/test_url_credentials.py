"""Credentials written into a provider's `api_base_url` (`https://user:pass@host/...`, `?key=...`) are secrets
like its api_key: never in an error body sent to the client, never in the log."""

from __future__ import annotations

import json

import pytest

from tests.security.streams import REQUEST
from tests.support.inprocess import ServeRouter
from tests.support.router_process import free_port
from tests.support.router_setup import LOOPBACK


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("http://user:secret@127.0.0.1:{port}/v1/chat/completions", "secret"),
        ("http://127.0.0.1:{port}/v1/chat/completions?key=AIzaSyTopSecretValue42", "TopSecret"),
        ("http://127.0.0.1:{port}/v1/chat/completions?api-version=1&access_token=tok-TopSecret-77", "TopSecret"),
    ],
)
def test_credentials_in_the_provider_url_are_redacted(serve_router: ServeRouter, url: str, secret: str) -> None:
    dead = url.format(port=free_port())  # nothing listens there: the connection is refused
    router = serve_router(
        {
            "Providers": [{"name": "dead", "api_base_url": dead, "models": ["m"]}],  # the URL holds the credentials
            "Router": {"default": "dead,m"},
            "RETRY": {"max_retries": 0},
        }
    )
    response = LOOPBACK.post(router.url + "/v1/messages", json=REQUEST, timeout=20)
    assert response.status_code == 502, response.text
    assert "Could not connect to provider 'dead'" in response.json()["error"]["message"]
    assert secret not in response.text
    lines = router.wait_for_records(1)
    assert lines and lines[0]["status"] == 502 and "Could not connect" in lines[0]["error"]
    assert secret not in json.dumps(router.log_records())
