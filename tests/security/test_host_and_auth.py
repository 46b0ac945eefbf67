"""Who gets in, against the real service process: the Host check that stops DNS rebinding without an APIKEY, the
slowed-down answers to wrong keys, the warning about a short key on a wide listener, and a non-ASCII key.

Claude Code (2.1.332), the anthropic SDK and `ccr` send `Host: 127.0.0.1:PORT` (or `localhost:PORT`); a web page
that re-points its own domain at 127.0.0.1 sends its domain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from ccrouter.gateway.auth import bind_host
from tests.security.streams import REQUEST
from tests.support.ccr_cli import CcrHome, fake_provider_config
from tests.support.fake_upstream import ScriptedUpstream, openai_completion
from tests.support.router_process import free_port, stop_process
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider, sdk_client

KEY = "router-key-0123456789abcdef"
ENDPOINTS = [
    ("GET", "/health"),
    ("GET", "/v1/models"),
    ("GET", "/api/cooldowns"),
    ("GET", "/api/sessions/some-session"),
    ("HEAD", "/"),
    ("HEAD", "/api/hello"),
    ("POST", "/v1/messages"),
    ("POST", "/v1/messages/count_tokens"),
]
MIN_FAILURE_DELAY_S = 0.2  # what every wrong key costs at least (the router waits 0.25 s)


def _config(upstream: ScriptedUpstream, **extra: Any) -> dict[str, Any]:
    return {"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}, **extra}


def _call(url: str, method: str, path: str, host: str | None = None, key: str | None = None) -> httpx.Response:
    headers = {"host": host} if host is not None else {}
    if key is not None:
        headers["x-api-key"] = key
    body = REQUEST if method == "POST" else None
    return LOOPBACK.request(method, url + path, headers=headers, json=body, timeout=20)


def test_without_an_apikey_only_hosts_that_name_loopback_are_served(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    router = start_router(_config(upstream))
    port = router.port
    for method, path in ENDPOINTS:
        response = _call(router.url, method, path, host=f"evil.example:{port}")
        assert response.status_code == 403, (method, path, response.status_code)
        if method != "HEAD":
            error = response.json()["error"]
            assert error["type"] == "permission_error"
            assert "evil.example" in error["message"] and "127.0.0.1" in error["message"]
            assert "APIKEY" in error["message"]
    for foreign in ("evil.example", "127.0.0.1.evil.example:1", "localhost.evil.example", "[::2]:80", "localhost:x"):
        assert _call(router.url, "GET", "/v1/models", host=foreign).status_code == 403, foreign
    # The router's own names pass, on any port (an SSH tunnel keeps the name, not the port), in any case.
    for own in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "127.0.0.1", "LOCALHOST:9999", "[::1]"):
        assert _call(router.url, "GET", "/v1/models", host=own).status_code == 200, own
    assert _call(router.url, "GET", "/health").status_code == 200  # httpx's own Host: 127.0.0.1:PORT


def test_the_anthropic_sdk_passes_and_a_rebinding_host_does_not(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    router = start_router(_config(upstream))
    upstream.queue(openai_completion("hello"))
    reply = sdk_client(router.url).messages.create(
        model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.content[0].type == "text" and reply.content[0].text == "hello"
    rebound = sdk_client(router.url, default_headers={"host": f"evil.example:{router.port}"})
    with pytest.raises(anthropic.PermissionDeniedError, match="no APIKEY"):
        rebound.models.list()
    assert len(upstream.received) == 1


def test_with_an_apikey_the_key_guards_and_any_host_is_served(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    """A router that serves other machines is reached under names it cannot list (its LAN address, a host name)."""
    keyed = start_router(_config(upstream, APIKEY=KEY))
    assert _call(keyed.url, "GET", "/v1/models", host="my-box.lan:3456", key=KEY).status_code == 200
    assert _call(keyed.url, "GET", "/v1/models", host="my-box.lan:3456").status_code == 401
    keyless = start_router(_config(upstream))
    assert _call(keyless.url, "GET", "/v1/models", host="my-box.lan:3456").status_code == 403


def test_wrong_keys_are_answered_slowly_while_the_right_key_is_not(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    router = start_router(_config(upstream, APIKEY=KEY))
    baseline = [_timed(router.url, KEY)[1] for _ in range(10)]
    failures = 8
    statuses: list[int] = []
    elapsed: list[float] = []

    def guess() -> None:
        started = time.perf_counter()
        with httpx.Client(trust_env=False) as client:
            for attempt in range(failures):
                response = client.get(router.url + "/v1/models", headers={"x-api-key": f"guess-{attempt}"})
                statuses.append(response.status_code)
        elapsed.append(time.perf_counter() - started)

    guesser = threading.Thread(target=guess)
    guesser.start()
    during: list[float] = []
    while guesser.is_alive():
        status, seconds = _timed(router.url, KEY)
        assert status == 200  # the right key is never refused while another connection guesses one at a time
        during.append(seconds)
        guesser.join(0.02)  # a few dozen requests over the guessing, not a flood
    assert statuses == [401] * failures
    assert elapsed[0] >= failures * MIN_FAILURE_DELAY_S, elapsed
    # Queued behind the failures, the right key would take a failure's delay or more; the median shows it does not
    # (a single request may still be slow on a busy machine).
    assert len(during) >= 10 and _median(during) < MIN_FAILURE_DELAY_S / 4, during
    print(
        f"\n{failures} wrong keys in sequence: {elapsed[0]:.2f} s; right key: median {_median(baseline) * 1000:.1f} "
        f"ms alone, {_median(during) * 1000:.1f} ms (max {max(during) * 1000:.1f}) during the guessing "
        f"({len(during)} requests)"
    )


def test_parallel_guesses_are_refused_before_the_key_is_checked(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    """Parallel guesses must not buy a faster rate: one address gets at most a few answered failures at once and
    one more per 0.25 s; the rest get a 429 that says nothing about the key."""
    router = start_router(_config(upstream, APIKEY=KEY))
    parallel = 24
    results: list[httpx.Response] = []
    gate = threading.Barrier(parallel)

    def guess(attempt: int) -> None:
        with httpx.Client(trust_env=False) as client:
            gate.wait()
            results.append(client.get(router.url + "/v1/models", headers={"x-api-key": f"guess-{attempt}"}))

    started = time.perf_counter()
    threads = [threading.Thread(target=guess, args=(n,)) for n in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    elapsed = time.perf_counter() - started
    answered = [r for r in results if r.status_code == 401]
    refused = [r for r in results if r.status_code == 429]
    assert len(answered) + len(refused) == parallel
    assert len(answered) <= 4 + elapsed / 0.25 + 1, (len(answered), elapsed)
    assert refused and refused[0].json()["error"]["type"] == "rate_limit_error"
    assert "Too many failed authentication attempts" in refused[0].json()["error"]["message"]
    assert int(refused[0].headers["retry-after"]) >= 1
    deadline = time.monotonic() + 10  # the queue drains within a few seconds; then the right key is served again
    while _call(router.url, "GET", "/v1/models", key=KEY).status_code != 200:
        assert time.monotonic() < deadline, "the right key was still refused 10 s after the guessing stopped"
        time.sleep(0.1)


def test_a_short_apikey_on_a_wide_listener_is_warned_about(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port, HOST="0.0.0.0", APIKEY="k"))
    checked = ccr.run("config", "check")
    assert checked.returncode == 0, checked.stderr
    assert "APIKEY is only 1 character long while HOST is '0.0.0.0'" in checked.stderr
    assert "at least 16" in checked.stderr
    ccr.write_config(fake_provider_config(upstream, ccr.port, HOST="0.0.0.0", APIKEY=KEY))
    assert "APIKEY is only" not in ccr.run("config", "check").stderr
    ccr.write_config(fake_provider_config(upstream, ccr.port, HOST="127.0.0.1", APIKEY="k"))
    assert "APIKEY is only" not in ccr.run("config", "check").stderr  # nobody else can reach it to guess
    # What the service logs at start (auth.bind_host), without opening a wide listener in a test:
    host, warning = bind_host("0.0.0.0", "k")
    assert host == "0.0.0.0" and warning is not None and "at least 16" in warning
    assert bind_host("0.0.0.0", KEY) == ("0.0.0.0", None)


def test_a_non_ascii_apikey_stops_the_start_with_the_fix(tmp_path: Path, upstream: ScriptedUpstream) -> None:
    """Claude Code refuses to send such a key and the anthropic SDK cannot: a service that started with it would
    lock them out, so it does not start."""
    home = tmp_path / "home"
    home.mkdir()
    config = home / "config.json"
    config.write_text(json.dumps({**_config(upstream, APIKEY="clé-très-secrète-0123456789"), "PORT": free_port()}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccrouter.gateway.server", "--config", str(config)],
        env={**os.environ, "CCR_HOME": str(home)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        pytest.fail("the service started with a non-ASCII APIKEY that no client can send")
    message = stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, message
    assert "APIKEY contains a non-ASCII character (character 3 of 27)" in message
    assert "printable ASCII" in message and "secrets.token_urlsafe" in message


def _timed(url: str, key: str) -> tuple[int, float]:
    started = time.perf_counter()
    status = LOOPBACK.get(url + "/v1/models", headers={"x-api-key": key}, timeout=20).status_code
    return status, time.perf_counter() - started


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
