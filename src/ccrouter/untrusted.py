"""Text that came from outside (a client's request, a provider's answer, a log file) made safe to repeat.

A client chooses its model name, session id and headers, and a provider its error messages: quoted whole, a 20 MB
model name made a 20 MB error body and a 40 MB log line. `clip` bounds such a string where it is put into an error
message or a log line. Printed on a terminal, text from outside could also carry escape sequences that move the
cursor, retitle the window or rewrite what the user sees: `printable` makes every control character visible
instead. Standard library only: the fast commands import it.
"""

from __future__ import annotations

import re

# A client's string (model name, provider name, path, header value) quoted in an error message: a real one is a
# few dozen characters.
MAX_ECHO_CHARS = 200
# One field of a log line (a provider's error message, a traceback's tail: up to a few thousand characters). Request
# bodies, logged at debug level, are the one field kept whole.
MAX_LOG_FIELD_CHARS = 4000

# C0 controls, DEL and the C1 controls (U+009B alone starts an escape sequence on some terminals).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """`text`, or its first `limit` characters and how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters not shown)"


def printable(text: str, keep: str = "") -> str:
    """`text` with every control character but those in `keep` written as a visible escape (`\\x1b`)."""
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else f"\\x{ord(m.group()):02x}", text)


def printable_json(line: str) -> str:
    """A JSON text with every control character but the tab written as a JSON escape (`\\u001b`): still valid JSON
    that means the same, but inert on a terminal (a JSON encoder leaves DEL and the C1 controls as they are)."""
    return _CONTROL.sub(lambda m: m.group() if m.group() == "\t" else f"\\u{ord(m.group()):04x}", line)
