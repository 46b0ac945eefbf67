"""Minimal textual edits of a JSON5 document: set one string member of an object, keeping everything else.

Users' configs are JSON5 with comments, and a tool that changes one route must not throw those away. This module
finds the exact character spans of the members on a path (`("Router",)`), then replaces one value's span or
inserts one member, copying the surrounding style (indentation, key quoting, trailing commas). Anything it does
not fully understand raises `EditError`; callers then fall back to re-serialising the whole document, and they
verify every edit by parsing the result, so an edit can never silently change another value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import json5

from ccrouter.errors import CcrouterError


class EditError(CcrouterError):
    """The text cannot be edited safely in place. Callers fall back to rewriting the document (`ccr` exits 1 if
    one ever reaches it: not the user's doing)."""


@dataclass
class ObjectSpan:
    start: int  # index of "{"
    end: int  # index just after "}"
    members: list[Member] = field(default_factory=list)


@dataclass
class Member:
    key: str  # decoded
    key_start: int
    key_end: int
    value_start: int
    value_end: int
    obj: ObjectSpan | None  # the value, when it is an object


_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")
_SCALAR_STOP = frozenset(",]}:{[\"'/")
_KEY_STOP = frozenset(",]}:{[\"'/")


class _Parser:
    """A recursive-descent JSON5 reader that records spans instead of building values."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.comments = False

    def document(self) -> ObjectSpan:
        self.skip()
        if not self.text.startswith("{", self.pos):
            raise EditError("the document is not an object")
        obj = self.value()[2]
        self.skip()
        if self.pos != len(self.text) or obj is None:
            raise EditError("unexpected text after the top-level object")
        return obj

    def skip(self) -> None:
        """Whitespace and comments."""
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch.isspace() or ch == "\ufeff":
                self.pos += 1
            elif text.startswith("//", self.pos):
                self.comments = True
                newline = text.find("\n", self.pos)
                self.pos = n if newline < 0 else newline + 1
            elif text.startswith("/*", self.pos):
                self.comments = True
                close = text.find("*/", self.pos + 2)
                if close < 0:
                    raise EditError("unterminated block comment")
                self.pos = close + 2
            else:
                return

    def value(self) -> tuple[int, int, ObjectSpan | None]:
        if self.pos >= len(self.text):
            raise EditError("unexpected end of text")
        start = self.pos
        ch = self.text[start]
        if ch == "{":
            obj = self.object()
            return start, self.pos, obj
        if ch == "[":
            self.array()
        elif ch in "\"'":
            self.string()
        else:
            self.scalar()
        return start, self.pos, None

    def object(self) -> ObjectSpan:
        obj = ObjectSpan(self.pos, -1)
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("}", self.pos):
                self.pos += 1
                obj.end = self.pos
                return obj
            key_start = self.pos
            key = self.key()
            key_end = self.pos
            self.skip()
            if not self.text.startswith(":", self.pos):
                raise EditError(f"expected ':' after key {key!r}")
            self.pos += 1
            self.skip()
            value_start, value_end, child = self.value()
            obj.members.append(Member(key, key_start, key_end, value_start, value_end, child))
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif not self.text.startswith("}", self.pos):
                raise EditError(f"expected ',' or '}}' after the value of {key!r}")

    def array(self) -> None:
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("]", self.pos):
                self.pos += 1
                return
            self.value()
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif not self.text.startswith("]", self.pos):
                raise EditError("expected ',' or ']' in an array")

    def string(self) -> str:
        text, start = self.text, self.pos
        quote = text[start]
        i = start + 1
        while i < len(text):
            ch = text[i]
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                self.pos = i + 1
                return text[start : self.pos]
            if ch in "\r\n":
                break
            i += 1
        raise EditError("unterminated string")

    def scalar(self) -> None:
        text, start = self.text, self.pos
        i = start
        while i < len(text) and not text[i].isspace() and text[i] not in _SCALAR_STOP:
            i += 1
        if i == start:
            raise EditError(f"unexpected character {text[start]!r}")
        self.pos = i

    def key(self) -> str:
        if self.pos < len(self.text) and self.text[self.pos] in "\"'":
            token = self.string()
            try:
                decoded = json5.loads(token)
            except ValueError:
                raise EditError(f"cannot read the key {token}") from None
            if not isinstance(decoded, str):
                raise EditError(f"cannot read the key {token}")
            return decoded
        text, start = self.text, self.pos
        i = start
        while i < len(text) and not text[i].isspace() and text[i] not in _KEY_STOP:
            i += 1
        token = text[start:i]
        if not _IDENTIFIER.match(token):
            raise EditError(f"unsupported key {token!r}")
        self.pos = i
        return token


def parse_spans(text: str) -> ObjectSpan:
    """The top-level object's spans (raises EditError for anything this reader does not handle)."""
    return _Parser(text).document()


def has_comments(text: str) -> bool:
    parser = _Parser(text)
    try:
        parser.document()
    except EditError:
        return "//" in text or "/*" in text
    return parser.comments


def set_string_member(text: str, path: tuple[str, ...], key: str, value: str) -> str:
    """`text` with the object at `path` (keys from the top-level object) holding `key: value`.

    An existing member keeps its place and only its value changes; a missing one is added after the object's
    last member; missing objects on the path are created. Duplicate keys: the last one counts, as in parsers.
    """
    obj = parse_spans(text)
    for depth, name in enumerate(path):
        member = _last_member(obj, name)
        if member is None:
            style = _key_style(text, obj)
            nested = _inline_object(path[depth + 1 :], key, value, style)
            return _insert_member(text, obj, _render_key(name, style), nested)
        if member.obj is None:
            nested = _inline_object(path[depth + 1 :], key, value, _key_style(text, obj))
            return text[: member.value_start] + nested + text[member.value_end :]
        obj = member.obj
    member = _last_member(obj, key)
    if member is None:
        rendered = _render_string(value, _quote_style(text, obj))
        return _insert_member(text, obj, _render_key(key, _key_style(text, obj)), rendered)
    old = text[member.value_start : member.value_end]
    quote = old[0] if old[:1] in ("'", '"') else '"'
    return text[: member.value_start] + _render_string(value, quote) + text[member.value_end :]


def _last_member(obj: ObjectSpan, key: str) -> Member | None:
    return next((m for m in reversed(obj.members) if m.key == key), None)


def _inline_object(path: tuple[str, ...], key: str, value: str, key_style: str) -> str:
    inner = _render_key(key, key_style) + ": " + _render_string(value, '"')
    for name in reversed(path):
        inner = f"{_render_key(name, key_style)}: {{ {inner} }}"
    return f"{{ {inner} }}"


def _key_style(text: str, obj: ObjectSpan) -> str:
    """How this object's keys are written: '"', "'" or "" (bare identifiers); JSON style when it has none."""
    if not obj.members:
        return '"'
    first = text[obj.members[-1].key_start]
    return first if first in ("'", '"') else ""


def _quote_style(text: str, obj: ObjectSpan) -> str:
    """The quote of this object's string values ('"' unless they are all single-quoted)."""
    quotes = {text[m.value_start] for m in obj.members if text[m.value_start] in ("'", '"')}
    return "'" if quotes == {"'"} else '"'


def _render_key(key: str, style: str) -> str:
    if style == "" and _IDENTIFIER.match(key):
        return key
    return _render_string(key, "'" if style == "'" else '"')


def _render_string(value: str, quote: str) -> str:
    if quote == "'":
        body = json.dumps(value, ensure_ascii=False)[1:-1].replace('\\"', '"').replace("'", "\\'")
        return f"'{body}'"
    return json.dumps(value, ensure_ascii=False)


def _insert_member(text: str, obj: ObjectSpan, key_text: str, value_text: str) -> str:
    close = obj.end - 1  # the "}"
    entry = f"{key_text}: {value_text}"
    line_start = text.rfind("\n", 0, close) + 1
    brace_alone = text[line_start:close].strip() == ""
    if not obj.members:
        inner = text[obj.start + 1 : close]
        if "\n" in inner and brace_alone:
            indent = text[line_start:close]
            unit = "\t" if indent.startswith("\t") else "  "
            return text[:line_start] + f"{indent}{unit}{entry}\n" + text[line_start:]
        if inner.strip() == "":
            return text[: obj.start + 1] + f" {entry} " + text[close:]
        return text[:close] + f"{entry} " + text[close:]
    last = obj.members[-1]
    comma = _comma_after(text, last.value_end, close)
    key_line = text.rfind("\n", 0, last.key_start) + 1
    indent = text[key_line : last.key_start]
    multiline = brace_alone and indent.strip() == "" and "\n" in text[last.value_end : close]
    if multiline:
        edited = text[:line_start] + f"{indent}{entry}{',' if comma is not None else ''}\n" + text[line_start:]
        if comma is None:
            edited = edited[: last.value_end] + "," + edited[last.value_end :]
        return edited
    if comma is None:
        return text[: last.value_end] + f", {entry}" + text[last.value_end :]
    return text[: comma + 1] + f" {entry}," + text[comma + 1 :]


def _comma_after(text: str, start: int, stop: int) -> int | None:
    """Index of the comma that follows a member's value (comments and whitespace skipped), if any."""
    parser = _Parser(text)
    parser.pos = start
    parser.skip()
    if parser.pos < stop and text[parser.pos] == ",":
        return parser.pos
    return None
