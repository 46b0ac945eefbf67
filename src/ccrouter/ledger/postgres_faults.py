"""What went wrong with the PostgreSQL ledger, said so that its owner knows what to do, and never with its password.

`LEDGER_URL` may hold a password. Messages name the database as `PostgreSQL user@host:port/database` (`Target`),
and the server's or libpq's own words are repeated with every form of the password taken out (libpq never quotes
it, but a malformed URL's parse error could). A refused connection, a refused login, a missing database, missing
rights, a full disk, a server out of connections and a refused row each get one sentence with the fix.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from ccrouter.ledger.faults import LedgerError
from ccrouter.untrusted import clip

_DETAIL_CHARS = 300
_URL_CREDENTIALS = re.compile(r"(?i)(postgres(?:ql)?://[^:@/\s]*:)[^@\s]*@")
_KEYWORD_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")


@dataclass(frozen=True, slots=True)
class Target:
    """Where the ledger lives, as messages may show it, and the secrets they must not."""

    shown: str  # "PostgreSQL ana@db.internal:5432/ccrouter"
    secrets: tuple[str, ...]

    @classmethod
    def of(cls, url: str, parts: dict[str, str]) -> Target:
        """From the URL and its parsed parts (psycopg's conninfo_to_dict)."""
        user = parts.get("user") or "(default user)"
        host = parts.get("host") or parts.get("hostaddr") or "the local socket"
        port = parts.get("port") or "5432"
        database = parts.get("dbname") or user
        return cls(f"PostgreSQL {user}@{host}:{port}/{database}", secrets_of(url, parts.get("password")))

    def detail(self, exc: BaseException) -> str:
        """What `exc` says, on one line, clipped, without the password."""
        return clip(" ".join(self.scrub(str(exc)).split()), _DETAIL_CHARS)

    def scrub(self, text: str) -> str:
        """`text` without the password, in any of the forms it had in the URL."""
        text = _URL_CREDENTIALS.sub(r"\1***@", text)
        text = _KEYWORD_PASSWORD.sub(r"\1***", text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def secrets_of(url: str, parsed_password: str | None) -> tuple[str, ...]:
    """Every spelling of the URL's password (as written, decoded, encoded), longest first."""
    found = {parsed_password or ""}
    with contextlib.suppress(ValueError):  # a malformed URL: the parsed password is all there is
        found.add(urlsplit(url).password or "")
    found |= {unquote(secret) for secret in found} | {quote(secret, safe="") for secret in found}
    return tuple(sorted((secret for secret in found if secret), key=len, reverse=True))


def describe(exc: BaseException, target: Target, *, connection_failed: bool) -> LedgerError:
    """The LedgerError for `exc` (a psycopg.Error) met while using `target`; `connection_failed` when psycopg said
    the connection could not be made or was lost (OperationalError without a more precise SQLSTATE)."""
    kind = kind_of(getattr(exc, "sqlstate", None) or "", str(exc), connection_failed)
    return LedgerError(_MESSAGES[kind].format(target=target.shown, detail=target.detail(exc)), kind)


def kind_of(sqlstate: str, text: str, connection_failed: bool) -> str:
    """unreachable, auth, missing-database, permission, full, too-many-connections, rejected or other. A failed
    connection has no SQLSTATE in psycopg: libpq's words (English; the server's FATAL line) tell instead."""
    for kind, states, words in _KINDS:
        if (sqlstate and sqlstate.startswith(states)) or (words and words.search(text)):
            return kind
    return "unreachable" if connection_failed else "other"


_KINDS: tuple[tuple[str, tuple[str, ...], re.Pattern[str] | None], ...] = (
    ("auth", ("28",), re.compile(r"(?i)password authentication failed|no password supplied|no pg_hba\.conf entry")),
    ("missing-database", ("3D000",), re.compile(r'(?i)database "[^"]*" does not exist')),
    ("too-many-connections", ("53300",), re.compile(r"(?i)too many clients|remaining connection slots")),
    ("full", ("53100", "53200"), None),
    ("permission", ("42501",), None),
    ("unreachable", ("08", "57P"), None),
    ("rejected", ("22", "23"), None),
)

_MESSAGES = {
    "unreachable": "{target} cannot be reached ({detail}): start the server, or check the host and port in LEDGER_URL.",
    "auth": (
        "{target} refused the login ({detail}): check the user and password in LEDGER_URL, and that the server's "
        "pg_hba.conf lets this host in."
    ),
    "missing-database": (
        "{target}: the database does not exist ({detail}): create it (createdb, or CREATE DATABASE as an admin), or "
        "fix its name in LEDGER_URL."
    ),
    "too-many-connections": (
        "{target} has no connection to spare ({detail}): raise the server's max_connections, or run fewer workers."
    ),
    "full": "{target} cannot store more ({detail}): free disk space or memory on the database server.",
    "permission": (
        "{target} refused this user ({detail}): grant it SELECT and INSERT on the ledger's tables (and CREATE on the "
        "schema for the first start, which creates them), or use the owner's login."
    ),
    "rejected": "{target} refused a batch of ledger rows ({detail}): this is a bug in ccrouter; please report it.",
    "other": "{target} cannot be used ({detail}).",
}
