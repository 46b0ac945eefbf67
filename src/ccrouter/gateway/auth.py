"""Who may use the router: the APIKEY check, the loopback-only rule, and, without an APIKEY, the browser Origin
check and the Host check.

Without an APIKEY the router listens on loopback only, so what can still reach it from outside is a web page in
the user's browser. A foreign page's POSTs carry its Origin (refused by `check_origin`); a page that re-points its
own domain at 127.0.0.1 (DNS rebinding) is same-origin with the router and may send GETs without an Origin, but
its requests name its domain in `Host`, which `check_host` refuses. With an APIKEY any Host is accepted: the page
cannot know the key, and a router serving other machines is reached under names it cannot list (its LAN address,
a host name, a port forward).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit

from ccrouter.config.apikey import weak_apikey_warning
from ccrouter.config.users_section import User, Users, key_digest
from ccrouter.errors import GatewayError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_HOST_NAMES = frozenset({b"127.0.0.1", b"localhost", b"[::1]"})  # as they appear in a Host header


def offered_keys(headers: dict[str, str]) -> list[str]:
    """The keys a request sends: `x-api-key: KEY` and `Authorization: Bearer KEY`. Either header may carry it: a
    client can send both (e.g. a stray ANTHROPIC_API_KEY beside the token)."""
    offered = [headers["x-api-key"]] if "x-api-key" in headers else []
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        offered.append(authorization[7:].strip())
    return offered


def check_api_key(headers: dict[str, str], apikey: str) -> GatewayError | None:
    """Accept `x-api-key: KEY` or `Authorization: Bearer KEY`, compared in constant time."""
    expected = apikey.encode()
    if any(hmac.compare_digest(value.encode(), expected) for value in offered_keys(headers)):
        return None
    return GatewayError(
        401,
        "Missing or wrong API key. Send the router's APIKEY (from its config) as x-api-key or "
        "Authorization: Bearer; `ccr code` does this for you.",
        "authentication_error",
    )


def find_user(headers: dict[str, str], users: Users) -> User | None:
    """The user whose key the request sends, found by the key's SHA-256 (what the config keeps): the lookup is by
    digest, so how long it takes tells nothing about any key."""
    for value in offered_keys(headers):
        user = users.find(key_digest(value))
        if user is not None:
            return user
    return None


def wrong_user_key() -> GatewayError:
    return GatewayError(
        401,
        "Missing or wrong API key. Send your user key (the one `ccr user add` printed) or the router's APIKEY as "
        "x-api-key or Authorization: Bearer (for Claude Code: ANTHROPIC_AUTH_TOKEN).",
        "authentication_error",
    )


def admin_only(path: str) -> GatewayError:
    """A user's key on an endpoint only the admin (APIKEY) may use."""
    return GatewayError(
        403,
        f"{path[:100]} needs the router's APIKEY (the admin key); a user key serves /v1/messages, /v1/models and "
        "/api/sessions only.",
        "permission_error",
    )


def check_origin(headers: dict[str, str]) -> GatewayError | None:
    """Without an APIKEY, refuse requests a web page in a browser makes from a foreign origin."""
    origin = headers.get("origin")
    if not origin or origin == "null":
        return None if not origin else _foreign(origin)
    host = urlsplit(origin).hostname or ""
    if host in LOOPBACK_HOSTS:
        return None
    return _foreign(origin)


def _foreign(origin: str) -> GatewayError:
    return GatewayError(
        403,
        f"Requests from web pages at {origin[:100]} are refused: this router has no APIKEY, so it only serves "
        "local programs. Set APIKEY in the config to allow authenticated remote clients.",
        "permission_error",
    )


def check_host(headers: Iterable[tuple[bytes, bytes]]) -> GatewayError | None:
    """Without an APIKEY, accept only a Host that names this machine's loopback (127.0.0.1, localhost or [::1], on
    any port: an SSH tunnel or a port forward keeps the name but not the port). No Host at all passes: browsers,
    the only clients DNS rebinding can steer, always send one."""
    for name, value in headers:
        if name == b"host" and not _names_loopback(value):
            return _foreign_host(value)
    return None


def _names_loopback(host: bytes) -> bool:
    """Whether a Host value (`name`, `name:port`, `[v6]`, `[v6]:port`) names a loopback address."""
    host = host.strip().lower()
    end = host.find(b"]") + 1 if host.startswith(b"[") else host.find(b":")
    if end <= 0:
        name, port = host, b""
    else:
        name, port = host[:end], host[end:]
    return name in _HOST_NAMES and (not port or (port[:1] == b":" and port[1:].isdigit()))


def _foreign_host(host: bytes) -> GatewayError:
    shown = host.decode("latin-1")[:100]
    return GatewayError(
        403,
        f"Requests for Host {shown!r} are refused: this router has no APIKEY, so it only answers requests addressed "
        "to 127.0.0.1, localhost or [::1] (a web page that points its own domain at this machine is refused). Use "
        "http://127.0.0.1:<PORT> as the base URL, or set APIKEY in the config to serve other host names.",
        "permission_error",
    )


def bind_host(configured: str, apikey: str | None) -> tuple[str, str | None]:
    """The address to listen on, and a warning when the configured HOST is overridden or a short APIKEY guards a
    listener other machines can reach. (An APIKEY no client could send is refused by the loader.)"""
    if apikey or configured in LOOPBACK_HOSTS:
        return configured, weak_apikey_warning(configured, apikey)
    return "127.0.0.1", (
        f"HOST is {configured!r} but no APIKEY is set, so ccrouter listens on 127.0.0.1 only. "
        "Set APIKEY in the config to serve other machines."
    )
