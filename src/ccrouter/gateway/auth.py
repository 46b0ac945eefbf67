"""Who may use the router: the APIKEY check, the loopback-only rule, and the browser Origin check."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from ccrouter.errors import GatewayError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_api_key(headers: dict[str, str], apikey: str) -> GatewayError | None:
    """Accept `x-api-key: KEY` or `Authorization: Bearer KEY`, compared in constant time."""
    expected = apikey.encode()
    offered = [headers.get("x-api-key")]
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        offered.append(authorization[7:].strip())
    # Either header may carry it: a client can send both (e.g. a stray ANTHROPIC_API_KEY beside the token).
    if any(value is not None and hmac.compare_digest(value.encode(), expected) for value in offered):
        return None
    return GatewayError(
        401,
        "Missing or wrong API key. Send the router's APIKEY (from its config) as x-api-key or "
        "Authorization: Bearer; `ccr code` does this for you.",
        "authentication_error",
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


def bind_host(configured: str, apikey: str | None) -> tuple[str, str | None]:
    """The address to listen on, and a warning when the configured HOST is overridden."""
    if apikey or configured in LOOPBACK_HOSTS:
        return configured, None
    return "127.0.0.1", (
        f"HOST is {configured!r} but no APIKEY is set, so ccrouter listens on 127.0.0.1 only. "
        "Set APIKEY in the config to serve other machines."
    )
