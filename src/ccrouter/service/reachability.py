"""Whether providers' hosts accept a TCP connection: `ccr code` says within seconds that no provider of the default
route can be reached, instead of leaving the user to find out from Claude Code's first failed request.

A TCP connect and nothing more (no TLS handshake, no HTTP request, so nothing that a provider could bill or log),
to every address at once in daemon threads, all within one time budget: a host name that takes long to resolve
or a connect that hangs cannot hold `ccr code` past it, and the first address that answers ends the wait.
A provider reached through a proxy is not checked: its own host says nothing about whether the proxy gets through.

Standard library only.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


class Outcome(StrEnum):
    REACHABLE = "reachable"
    REFUSED = "connection refused (nothing listens there)"
    NO_DNS = "host name not found (no DNS)"
    TIMED_OUT = "timed out"
    FAILED = "failed"  # any other error: no route to the host, network unreachable, ...


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Check:
    address: Address
    outcome: Outcome
    detail: str = ""  # the system's words for a FAILED connect

    def describe(self) -> str:
        return f"{self.outcome.value}: {self.detail}" if self.detail else self.outcome.value


def address_of(url: str) -> Address | None:
    """The host and port an http(s) URL connects to; None when it names none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname or scheme not in DEFAULT_PORTS:
        return None
    return Address(parts.hostname, port if port is not None else DEFAULT_PORTS[scheme])


def behind_proxy(url: str, proxy_url: str | None, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a connection to `url` may go through a proxy: the router's own PROXY_URL, or an HTTP(S)_PROXY
    (or ALL_PROXY) variable that NO_PROXY does not exempt the host from. A loopback host is never proxied."""
    if proxy_url:
        return True
    address = address_of(url)
    if address is None or _is_loopback(address.host):
        return False
    proxies = _environment_proxies(environ)
    if not (proxies.get(urlsplit(url).scheme.lower()) or proxies.get("all")):
        return False
    return not _exempt(address.host, proxies.get("no", ""))


def _environment_proxies(environ: Mapping[str, str]) -> dict[str, str]:
    """`<scheme>_proxy` variables by scheme ("no" for NO_PROXY), the lower-case spelling winning, as urllib reads
    them."""
    proxies: dict[str, str] = {}
    for lower_case_first in (False, True):
        for name, value in environ.items():
            if name.lower().endswith("_proxy") and value and (name.islower() or not lower_case_first):
                proxies[name[: -len("_proxy")].lower()] = value
    return proxies


def _exempt(host: str, no_proxy: str) -> bool:
    """Whether NO_PROXY names `host`: `*`, the host itself or a domain it is in (urllib's reading, without the 30 ms
    that importing urllib.request costs)."""
    host = host.lower()
    for entry in no_proxy.split(","):
        name = entry.strip().lstrip(".").lower()
        if name == "*" or (name and (host == name or host.endswith("." + name))):
            return True
    return False


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connect(address: Address, deadline: float) -> Check:
    """One TCP connect to `address`, given up at `deadline` (time.monotonic()); the socket is closed at once."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return Check(address, Outcome.TIMED_OUT)
    try:
        with socket.create_connection((address.host, address.port), timeout=remaining):
            return Check(address, Outcome.REACHABLE)
    except socket.gaierror:
        return Check(address, Outcome.NO_DNS)
    except ConnectionRefusedError:
        return Check(address, Outcome.REFUSED)
    except TimeoutError:
        return Check(address, Outcome.TIMED_OUT)
    except OSError as exc:
        return Check(address, Outcome.FAILED, exc.strerror or type(exc).__name__)


class Probe:
    """TCP connects to several addresses at once, started at construction, so the caller can do other work (start
    the service) while they run. Each runs in a daemon thread: one stuck in a name lookup outlives the wait but
    never holds the process."""

    def __init__(self, addresses: Iterable[Address], timeout: float) -> None:
        self.addresses = tuple(dict.fromkeys(addresses))
        self._deadline = time.monotonic() + timeout
        self._checks: dict[Address, Check] = {}
        self._changed = threading.Condition()
        for address in self.addresses:
            threading.Thread(target=self._run, args=(address,), name=f"probe {address}", daemon=True).start()

    def _run(self, address: Address) -> None:
        check = connect(address, self._deadline)
        with self._changed:
            self._checks[address] = check
            self._changed.notify_all()

    def _settled(self) -> bool:
        return len(self._checks) == len(self.addresses) or any(
            check.outcome is Outcome.REACHABLE for check in self._checks.values()
        )

    def wait(self) -> dict[Address, Check]:
        """Each address's check, once one is reachable, all have answered or the time is up (an address that has
        not answered by then timed out)."""
        with self._changed:
            self._changed.wait_for(self._settled, timeout=max(0.0, self._deadline - time.monotonic()))
            return {a: self._checks.get(a, Check(a, Outcome.TIMED_OUT)) for a in self.addresses}
