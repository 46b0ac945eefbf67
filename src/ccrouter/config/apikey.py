"""What an APIKEY must be to work, and when it is too weak for where the router listens.

An APIKEY travels as an HTTP header value, and clients disagree on how to send anything but printable ASCII
there: Claude Code (Node) sends characters up to U+00FF as single Latin-1 bytes and refuses anything beyond
("contains a non-ASCII character"), the anthropic Python SDK (httpx) cannot send a non-ASCII header at all, while
curl and `ccr`'s own client send UTF-8. No comparison rule can accept them all, so a key with anything but
printable ASCII would lock some client out for good; it is refused with the way out instead.

A short key guards a router that listens beyond loopback poorly, even with failed attempts slowed down
(`gateway/auth_failures.py`): a warning says so at start and in `ccr config check`. Standard library only.
"""

from __future__ import annotations

import ipaddress

MIN_REMOTE_KEY_LENGTH = 16
NEW_KEY_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"


def apikey_problem(apikey: str | None) -> str | None:
    """Why clients could never send `apikey`, with the fix; None when it is usable (or not set)."""
    if not apikey:
        return None
    for position, char in enumerate(apikey, 1):
        if not " " <= char <= "~":
            kind = "a non-ASCII" if not char.isascii() else "a control"
            return (
                f"APIKEY contains {kind} character (character {position} of {len(apikey)}). Clients send the key "
                "in an HTTP header, where only printable ASCII arrives intact: Claude Code refuses other keys and "
                f"the anthropic SDK cannot send them. Use letters, digits and punctuation, e.g. from `{NEW_KEY_HINT}`."
            )
    if apikey != apikey.strip():
        return (
            "APIKEY starts or ends with a space, which HTTP drops from header values, so no client could match it. "
            "Remove the surrounding spaces."
        )
    return None


def listens_beyond_loopback(host: str) -> bool:
    """Whether a listener on `host` can be reached from other machines (0.0.0.0, ::, a LAN address, a name)."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return True


def weak_apikey_warning(host: str, apikey: str | None) -> str | None:
    """A warning when the router listens beyond loopback behind a key shorter than MIN_REMOTE_KEY_LENGTH."""
    if not apikey or len(apikey) >= MIN_REMOTE_KEY_LENGTH or not listens_beyond_loopback(host):
        return None
    return (
        f"APIKEY is only {len(apikey)} character{'s' if len(apikey) != 1 else ''} long while HOST is {host!r}, so "
        f"other machines can try to guess it. Use at least {MIN_REMOTE_KEY_LENGTH} random characters, e.g. from "
        f"`{NEW_KEY_HINT}`, or set HOST to 127.0.0.1 to serve this machine only."
    )
