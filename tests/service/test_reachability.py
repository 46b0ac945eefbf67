"""`service.reachability`: real TCP connects to loopback ports that refuse, listen or hang, a host name that does
not resolve, the time budget, and which providers count as behind a proxy."""

from __future__ import annotations

import socket
import time

import pytest

from ccrouter.service.reachability import Address, Outcome, Probe, address_of, behind_proxy, connect
from tests.support.dead_ends import hanging_port, refused_port


def _probe_one(address: Address, timeout: float = 10.0) -> Outcome:
    return Probe([address], timeout).wait()[address].outcome


def test_a_port_nothing_listens_on_is_refused() -> None:
    with refused_port() as port:
        assert _probe_one(Address("127.0.0.1", port)) is Outcome.REFUSED


def test_a_listening_port_is_reachable_and_gets_no_request() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        address = Address("127.0.0.1", listener.getsockname()[1])

        assert _probe_one(address) is Outcome.REACHABLE

        listener.settimeout(10)
        accepted, _ = listener.accept()
        with accepted:
            accepted.settimeout(10)
            assert accepted.recv(1024) == b""  # a connect and a close: no byte a provider could bill or log


def test_a_host_name_that_does_not_resolve_is_no_dns() -> None:
    check = connect(Address("nonexistent.invalid", 443), time.monotonic() + 10)
    assert check.outcome is Outcome.NO_DNS
    assert "no DNS" in check.describe()


def test_a_hanging_connect_ends_at_the_time_budget() -> None:
    with hanging_port() as port:
        address = Address("127.0.0.1", port)
        started = time.monotonic()
        checks = Probe([address], timeout=0.5).wait()
        elapsed = time.monotonic() - started

    assert checks[address].outcome is Outcome.TIMED_OUT
    assert 0.4 <= elapsed < 3.0  # the budget, not the kernel's two minutes of SYN retries


def test_probes_run_at_once_and_the_first_reachable_one_ends_the_wait() -> None:
    with hanging_port() as hanging, refused_port() as refused, socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        reachable = Address("127.0.0.1", listener.getsockname()[1])
        addresses = [Address("127.0.0.1", hanging), Address("127.0.0.1", refused), reachable]
        started = time.monotonic()
        checks = Probe(addresses, timeout=30).wait()
        elapsed = time.monotonic() - started

    assert checks[reachable].outcome is Outcome.REACHABLE
    assert elapsed < 10  # far below the 30 s budget: the hanging connect was not waited for


def test_several_hanging_connects_share_one_budget() -> None:
    with hanging_port() as first, hanging_port() as second, hanging_port() as third:
        addresses = [Address("127.0.0.1", port) for port in (first, second, third)]
        started = time.monotonic()
        checks = Probe(addresses, timeout=0.5).wait()
        elapsed = time.monotonic() - started

    assert {check.outcome for check in checks.values()} == {Outcome.TIMED_OUT}
    assert elapsed < 3.0  # in parallel: one budget, not three


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:11434/v1/chat/completions", Address("127.0.0.1", 11434)),
        ("https://api.deepseek.com/chat/completions", Address("api.deepseek.com", 443)),
        ("http://LocalHost/v1", Address("localhost", 80)),
        ("https://user:secret@proxy.example:8443/x", Address("proxy.example", 8443)),
        ("http://[::1]:8080/v1", Address("::1", 8080)),
        ("ftp://example.com/x", None),
        ("http://127.0.0.1:99999/v1", None),
        ("not a url", None),
    ],
)
def test_address_of(url: str, expected: Address | None) -> None:
    assert address_of(url) == expected


def test_an_ipv6_address_is_shown_in_brackets() -> None:
    assert str(Address("::1", 8080)) == "[::1]:8080"


@pytest.mark.parametrize(
    ("url", "proxy_url", "environ", "expected"),
    [
        ("https://api.deepseek.com/x", None, {}, False),
        ("https://api.deepseek.com/x", "http://proxy.example:3128", {}, True),
        ("http://127.0.0.1:11434/x", "http://proxy.example:3128", {}, True),  # PROXY_URL carries every request
        ("https://api.deepseek.com/x", None, {"HTTPS_PROXY": "http://proxy.example:3128"}, True),
        ("https://api.deepseek.com/x", None, {"https_proxy": "http://proxy.example:3128"}, True),
        ("https://api.deepseek.com/x", None, {"ALL_PROXY": "socks5://proxy.example:1080"}, True),
        ("https://api.deepseek.com/x", None, {"HTTP_PROXY": "http://proxy.example:3128"}, False),  # http only
        ("https://api.deepseek.com/x", None, {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "deepseek.com"}, False),
        ("https://api.deepseek.com/x", None, {"HTTPS_PROXY": "http://p:3128", "no_proxy": ".deepseek.com"}, False),
        ("https://api.deepseek.com/x", None, {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*"}, False),
        ("https://api.deepseek.com/x", None, {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "seek.com"}, True),
        ("http://127.0.0.1:11434/x", None, {"HTTP_PROXY": "http://proxy.example:3128"}, False),  # loopback
        ("http://localhost:11434/x", None, {"ALL_PROXY": "http://proxy.example:3128"}, False),
    ],
)
def test_behind_proxy(url: str, proxy_url: str | None, environ: dict[str, str], expected: bool) -> None:
    assert behind_proxy(url, proxy_url, environ) is expected
