"""Who may use the dashboard, and what a browser is told to allow: sign-in, cookies, Host, Origin, CSP.

Sign-in: the service writes a fresh random secret to `ui.secret` beside the config (0600) at each start. `ccr ui`,
run by the same user, reads it and asks the service for a one-time sign-in token (`POST /api/ui/sign-in-tokens` with
`x-ccr-ui-secret`), then opens `/ui/sign-in?token=...`, which the service exchanges, once and within
`SIGN_IN_TOKEN_TTL_S`, for a session cookie (`HttpOnly; SameSite=Strict`, named after the port: two routers on
one machine share the browser's cookies for 127.0.0.1). Scripts may send the APIKEY instead, when one is set.
The secret proves file access, which other local users and web pages lack; without it the dashboard, which can
rewrite the config (and so where provider keys are sent), would be open to every local process.

Every dashboard request must name a loopback host or one of `UI_HOSTS` in `Host` (DNS rebinding), and every
state-changing one signed in by cookie must come with this very origin in `Origin` (CSRF; SameSite=Strict covers
the rest). Pages get a strict Content-Security-Policy: no inline script or style, no framing.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from ccrouter.errors import GatewayError
from ccrouter.files import private_directory, write_atomically
from ccrouter.paths import UI_SECRET_FILE

SIGN_IN_TOKEN_TTL_S = 120.0  # how long the link `ccr ui` prints stays good (it signs in once)
SESSION_IDLE_S = 12 * 3600.0  # a browser session unused this long ends; a restart ends all of them
MAX_SESSIONS = 32  # past it, the session used longest ago ends
MAX_PENDING_TOKENS = 16  # sign-in links not yet used; past it the oldest expires
COOKIE_PREFIX = "ccr_ui_"
SECRET_HEADER = "x-ccr-ui-secret"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    # same-origin, not no-referrer: under no-referrer browsers send `Origin: null` on same-origin form posts and
    # (Firefox) fetches, which the CSRF check must then refuse. Other sites still get no referrer.
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
)
NOT_SIGNED_IN = (
    "Not signed in to the ccrouter dashboard. Run `ccr ui` in a terminal: it opens (or prints) a link that signs "
    "this browser in."
)


def write_secret(home: Path) -> str:
    """A new sign-in secret for this run of the service, written where only its user can read it."""
    secret = secrets.token_urlsafe(32)
    private_directory(home)
    write_atomically(home / UI_SECRET_FILE, secret.encode(), mode=0o600, durable=False)
    return secret


def unwritten_secret() -> str:
    """A secret nobody can know: sign-in links cannot be had (scripts may still use the APIKEY)."""
    return secrets.token_urlsafe(32)


class UiSessions:
    """One-time sign-in tokens and the browser sessions they became, in memory (a restart signs everyone out)."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._secret = secret.encode()
        self._clock = clock
        self._tokens: OrderedDict[str, float] = OrderedDict()  # token -> when it expires
        self._sessions: OrderedDict[str, float] = OrderedDict()  # session id -> when it was last used

    def secret_matches(self, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), self._secret)

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = self._clock() + SIGN_IN_TOKEN_TTL_S
        while len(self._tokens) > MAX_PENDING_TOKENS:
            self._tokens.popitem(last=False)
        return token

    def redeem(self, token: str) -> str | None:
        """A new session for a valid, unused, unexpired token (which is then spent); None otherwise."""
        expires = self._tokens.pop(token, None)
        if expires is None or expires < self._clock():
            return None
        session = secrets.token_urlsafe(32)
        self._sessions[session] = self._clock()
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def valid(self, session: str | None) -> bool:
        """Whether `session` is a live session (using it keeps it alive)."""
        if not session:
            return False
        last = self._sessions.get(session)
        now = self._clock()
        if last is None or now - last > SESSION_IDLE_S:
            self._sessions.pop(session, None)
            return False
        self._sessions[session] = now
        self._sessions.move_to_end(session)
        return True

    def end(self, session: str | None) -> None:
        if session:
            self._sessions.pop(session, None)


def cookie_name(port: int) -> str:
    return f"{COOKIE_PREFIX}{port}"


def session_cookie(port: int, session: str) -> str:
    return f"{cookie_name(port)}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={int(SESSION_IDLE_S)}"


def ended_cookie(port: int) -> str:
    return f"{cookie_name(port)}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"


def cookie_of(headers: dict[str, str], port: int) -> str | None:
    """The dashboard session cookie's value, if the request carries one."""
    wanted = cookie_name(port)
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == wanted:
            return value
    return None


def host_of(headers: dict[str, str]) -> str:
    """The `Host` header's name, lower case, without the port ("[::1]" keeps its brackets)."""
    host = headers.get("host", "").strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.partition(":")[0]


def check_host(headers: dict[str, str], allowed: Iterable[str]) -> GatewayError | None:
    """The dashboard answers only under a loopback name or one of UI_HOSTS (a rebinding page names its own)."""
    name = host_of(headers)
    if name in LOOPBACK_NAMES or name in allowed:
        return None
    return GatewayError(
        403,
        f"The dashboard does not answer to the host name {name[:100]!r}. Open it at http://127.0.0.1:<PORT>/ui "
        "(`ccr ui` prints the link), or list this name in UI_HOSTS in the config.",
        "permission_error",
    )


def check_same_origin(headers: dict[str, str], scheme: str) -> GatewayError | None:
    """A change made with the session cookie must come from a page of this very origin (`Origin` is the
    scheme and `Host` of the request), or it could be another site's form or script riding on the cookie."""
    origin = headers.get("origin")
    expected = f"{scheme}://{headers.get('host', '')}".lower()
    if origin is not None and origin.lower() == expected:
        return None
    shown = "no Origin" if origin is None else f"Origin {origin[:100]!r}"
    return GatewayError(
        403,
        f"Refused a change with {shown}: the dashboard accepts changes only from its own pages. Reload the "
        "dashboard from `ccr ui` and make the change there.",
        "permission_error",
    )
