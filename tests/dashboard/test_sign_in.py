"""Signing in to the dashboard, and who is refused: the real `ccr ui` and the real service process.

`ccr ui --no-browser` starts the service and prints a one-time link; the link becomes an HttpOnly, SameSite=Strict
cookie once; the API refuses requests without it (naming `ccr ui`), changes from a foreign Origin or without one,
and any foreign Host; the APIKEY works for scripts; every page carries the CSP.
"""

from __future__ import annotations

import http.client
import json
import os
import stat
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from ccrouter.dashboard.security import CONTENT_SECURITY_POLICY
from tests.support.browser import SIGN_IN_LINK, sign_in_link
from tests.support.ccr_cli import CcrHome, fake_provider_config
from tests.support.fake_upstream import ScriptedUpstream


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    fake = ScriptedUpstream().start()
    yield fake
    fake.stop()


def call(
    ccr: CcrHome, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", ccr.port, timeout=10)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=payload, headers={"Host": f"127.0.0.1:{ccr.port}", **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def cookie_from(ccr: CcrHome, link: str) -> str:
    parts = urlsplit(link)
    status, headers, _ = call(ccr, "GET", f"{parts.path}?{parts.query}")
    assert status == 303 and headers["location"] == "/ui"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    return cookie.split(";")[0]


def test_ccr_ui_signs_one_browser_in_once(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    link = sign_in_link(ccr)
    secret = ccr.home / "ui.secret"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    cookie = cookie_from(ccr, link)
    assert cookie.startswith(f"ccr_ui_{ccr.port}=")

    status, _, body = call(ccr, "GET", "/api/ui/whoami", {"Cookie": cookie})
    assert status == 200 and json.loads(body)["signed_in"] is True
    status, _, page = call(ccr, "GET", "/ui", {"Cookie": cookie})
    assert status == 200 and b'src="/ui/static/' in page  # the dashboard itself, not the sign-in page

    parts = urlsplit(link)  # the same link again: spent
    status, headers, page = call(ccr, "GET", f"{parts.path}?{parts.query}")
    assert status == 401 and "set-cookie" not in headers and b"ccr ui" in page


def test_without_a_session_the_api_says_to_run_ccr_ui(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    sign_in_link(ccr)
    for path in ("/api/ui/whoami", "/api/ui/config", "/api/ui/requests", "/api/ui/overview"):
        status, _, body = call(ccr, "GET", path, {"Cookie": f"ccr_ui_{ccr.port}=made-up"})
        assert status == 401, path
        assert "ccr ui" in json.loads(body)["error"]["message"]
    status, _, page = call(ccr, "GET", "/ui")
    assert status == 200 and b"ccr ui" in page and b"/ui/static/app.js" not in page  # the sign-in page
    status, _, body = call(ccr, "POST", "/api/ui/sign-in-tokens", {"x-ccr-ui-secret": "guess"})
    assert status == 403 and b"ccr ui" in body


def test_changes_need_this_origin_and_every_request_a_known_host(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    cookie = cookie_from(ccr, sign_in_link(ccr))
    change = {"version": "0" * 64, "changes": [{"path": ["Router", "default"], "value": "fake,fake-model"}]}
    own = f"http://127.0.0.1:{ccr.port}"
    for origin in ("http://evil.example", f"http://127.0.0.1:{ccr.port + 1}", None):
        headers = {"Cookie": cookie, "Content-Type": "application/json"}
        if origin is not None:
            headers["Origin"] = origin
        status, _, body = call(ccr, "PUT", "/api/ui/config", headers, change)
        assert status == 403, origin
        assert "own pages" in json.loads(body)["error"]["message"]
    # the same change from its own origin gets past the check (and is refused for its stale version instead)
    status, _, body = call(ccr, "PUT", "/api/ui/config", {"Cookie": cookie, "Origin": own}, change)
    assert status == 409, body

    for host in ("evil.example", f"evil.example:{ccr.port}", "127.0.0.1.evil.example"):
        status, _, body = call(ccr, "GET", "/api/ui/whoami", {"Cookie": cookie, "Host": host})
        assert status == 403, host
        status, _, _ = call(ccr, "GET", "/ui", {"Host": host})
        assert status == 403, host


def test_with_an_apikey_scripts_use_it_and_ui_hosts_are_answered(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    key = "dashboard-test-apikey-0123456789"
    ccr.write_config(fake_provider_config(upstream, ccr.port, APIKEY=key, UI_HOSTS=["router.team.internal"]))
    cookie = cookie_from(ccr, sign_in_link(ccr))
    status, _, _ = call(ccr, "GET", "/api/ui/whoami", {"x-api-key": key})
    assert status == 200
    status, _, _ = call(ccr, "GET", "/api/ui/whoami", {"x-api-key": key + "x"})
    assert status == 401
    status, _, _ = call(ccr, "GET", "/api/ui/whoami", {"Cookie": cookie, "Host": "router.team.internal:8080"})
    assert status == 200
    status, _, _ = call(ccr, "GET", "/api/ui/whoami", {"Cookie": cookie, "Host": "other.team.internal"})
    assert status == 403


def test_pages_carry_a_strict_content_security_policy(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    cookie = cookie_from(ccr, sign_in_link(ccr))
    for path in ("/ui", "/ui/static/app.js", "/api/ui/whoami", "/ui/sign-in?token=nope"):
        _, headers, _ = call(ccr, "GET", path, {"Cookie": cookie})
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert "'unsafe-inline'" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
    status, headers, _ = call(ccr, "GET", "/ui/static/../../config.json", {"Cookie": cookie})
    assert status == 404


def test_without_a_display_ccr_ui_prints_the_link_to_open(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    """Over SSH there is no browser to open: `ccr ui` says so and prints the link (it never starts a text browser
    in the terminal)."""
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    env = {k: v for k, v in ccr.env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = ccr.run("ui", env={**env, "BROWSER": "false"})
    assert result.returncode == 0, result.stderr
    assert SIGN_IN_LINK.search(result.stdout) and "No browser could be opened here" in result.stdout
    assert ccr.pid_info() is not None  # it started the service
