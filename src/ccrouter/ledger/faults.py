"""What went wrong with the ledger file, said so that its owner knows what to do: `LedgerError` and `describe`.

SQLite reports a locked, read-only, corrupt or full file with an error name; each becomes one sentence naming the
file and the fix. The messages hold the path and SQLite's words only: never a row.
"""

from __future__ import annotations

import os

from ccrouter.errors import CcrouterError


class LedgerError(CcrouterError):
    """The ledger cannot be read or written. `kind`: locked, read-only, corrupt, full, cannot-open, newer, other."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def describe(exc: BaseException, path: str | os.PathLike[str]) -> LedgerError:
    """The LedgerError for `exc` (an sqlite3.Error or OSError) met while using the ledger at `path`."""
    where = os.fspath(path)
    kind = _kind_of(exc)
    return LedgerError(_MESSAGES[kind].format(path=where, detail=exc), kind)


def _kind_of(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return "cannot-open"
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).casefold()
    for kind, names, words in _KINDS:
        if any(name.startswith(prefix) for prefix in names) or any(word in text for word in words):
            return kind
    return "other"


_KINDS = (
    ("locked", ("SQLITE_BUSY", "SQLITE_LOCKED"), ("database is locked",)),
    ("read-only", ("SQLITE_READONLY",), ("readonly database", "read-only")),
    ("corrupt", ("SQLITE_NOTADB", "SQLITE_CORRUPT"), ("not a database", "malformed")),
    ("full", ("SQLITE_FULL", "SQLITE_IOERR"), ("disk is full", "disk i/o error")),
    ("cannot-open", ("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH"), ("unable to open",)),
)

_MESSAGES = {
    "locked": "{path} is locked by another program ({detail}); close what holds it (a sqlite3 shell, a backup tool).",
    "read-only": "{path} is read-only ({detail}): make the file and its folder writable (chmod u+w) for this user.",
    "corrupt": (
        "{path} is not a readable SQLite database ({detail}): move it aside (mv {path} {path}.corrupt) and a new "
        "one is started."
    ),
    "full": (
        "{path} cannot be written ({detail}): the disk is full, over its quota or failing; free some space or check "
        "the disk."
    ),
    "cannot-open": "{path} cannot be opened or created ({detail}): check that its folder exists and is writable.",
    "other": "{path} cannot be used ({detail}).",
}
