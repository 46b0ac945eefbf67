"""Mending one common flaw in streamed tool arguments: raw control characters inside JSON strings.

Grammar-constrained local servers (llama-cpp-python's `[^"\\]` string rule) emit a raw newline or tab inside a
string, which no strict JSON parser (nor Anthropic's SDK) accepts. Outside strings such characters are plain
whitespace, so the fix needs to know, across fragments, whether the text so far ends inside a string.
"""

from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x1f]")
_SPECIAL = re.compile(r'["\\\x00-\x1f]')


class JsonStringEscaper:
    """Feed a JSON text in fragments; get them back with control characters inside strings escaped (\\u00XX)."""

    __slots__ = ("_escaped", "_in_string")

    def __init__(self) -> None:
        self._in_string = False
        self._escaped = False  # the previous fragment ended with a backslash inside a string

    def feed(self, text: str) -> str:
        pieces: list[str] = []
        last = 0
        skip = 0  # the index after an escaped character
        if self._escaped and text:
            self._escaped = False
            skip = 1
        for match in _SPECIAL.finditer(text, skip):
            i = match.start()
            if i < skip:
                continue
            char = text[i]
            if char == "\\":
                if self._in_string:
                    if i + 1 < len(text):
                        skip = i + 2
                    else:
                        self._escaped = True
            elif char == '"':
                self._in_string = not self._in_string
            elif self._in_string:
                pieces.append(text[last:i])
                pieces.append(f"\\u{ord(char):04x}")
                last = i + 1
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)
