"""Minimal textual edits of a JSON5 document: set one string member of an object, keeping everything else.

Users' configs are JSON5 with comments, and a tool that changes one route must not throw those away. This module
finds the exact character spans of the objects, arrays and members in a document, then replaces one value's span
or inserts one member, copying the surrounding style (indentation, key quoting, trailing commas). Anything it does
not fully understand raises `EditError`; callers then fall back to re-serialising the whole document, and they
verify every edit by parsing the result, so an edit can never silently change another value. The general edits
at any path (set, append, delete) are in `json5_paths.py`, on the spans read here.
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

    @property
    def items(self) -> list[Member]:
        return self.members


@dataclass
class ArraySpan:
    start: int  # index of "["
    end: int  # index just after "]"
    elements: list[Element] = field(default_factory=list)

    @property
    def items(self) -> list[Element]:
        return self.elements


@dataclass
class Member:
    key: str  # decoded
    key_start: int
    key_end: int
    value_start: int
    value_end: int
    node: ObjectSpan | ArraySpan | None  # the value, when it is an object or an array

    @property
    def start(self) -> int:
        """Where the member's text begins (its key)."""
        return self.key_start

    @property
    def obj(self) -> ObjectSpan | None:
        return self.node if isinstance(self.node, ObjectSpan) else None


@dataclass
class Element:
    value_start: int
    value_end: int
    node: ObjectSpan | ArraySpan | None  # the value, when it is an object or an array

    @property
    def start(self) -> int:
        return self.value_start


Node = ObjectSpan | ArraySpan


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
        if self.pos != len(self.text) or not isinstance(obj, ObjectSpan):
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

    def value(self) -> tuple[int, int, Node | None]:
        if self.pos >= len(self.text):
            raise EditError("unexpected end of text")
        start = self.pos
        ch = self.text[start]
        if ch == "{":
            obj = self.object()
            return start, self.pos, obj
        if ch == "[":
            array = self.array()
            return start, self.pos, array
        if ch in "\"'":
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

    def array(self) -> ArraySpan:
        array = ArraySpan(self.pos, -1)
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("]", self.pos):
                self.pos += 1
                array.end = self.pos
                return array
            array.elements.append(Element(*self.value()))
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
            return _decoded_key(self.string())
        text, start = self.text, self.pos
        i = start
        while i < len(text) and not text[i].isspace() and text[i] not in _KEY_STOP:
            i += 1
        token = text[start:i]
        if not _IDENTIFIER.match(token):
            raise EditError(f"unsupported key {token!r}")
        self.pos = i
        return token


def _decoded_key(token: str) -> str:
    """A quoted key's text: what lies between the quotes when it has no escapes, else json5's reading (~0.5 ms a
    call: for every key, it made reading a 7 kB config take 80 ms)."""
    if "\\" not in token:
        return token[1:-1]
    try:
        decoded = json5.loads(token)
    except ValueError:
        raise EditError(f"cannot read the key {token}") from None
    if not isinstance(decoded, str):
        raise EditError(f"cannot read the key {token}")
    return decoded


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
        member = last_member(obj, name)
        if member is None:
            style = key_style(text, obj)
            nested = _inline_object(path[depth + 1 :], key, value, style)
            return insert_item(text, obj, f"{render_key(name, style)}: {nested}")
        if member.obj is None:
            nested = _inline_object(path[depth + 1 :], key, value, key_style(text, obj))
            return text[: member.value_start] + nested + text[member.value_end :]
        obj = member.obj
    member = last_member(obj, key)
    if member is None:
        rendered = render_string(value, quote_style(text, obj))
        return insert_item(text, obj, f"{render_key(key, key_style(text, obj))}: {rendered}")
    old = text[member.value_start : member.value_end]
    quote = old[0] if old[:1] in ("'", '"') else '"'
    return text[: member.value_start] + render_string(value, quote) + text[member.value_end :]


def last_member(obj: ObjectSpan, key: str) -> Member | None:
    return next((m for m in reversed(obj.members) if m.key == key), None)


def _inline_object(path: tuple[str, ...], key: str, value: str, quoting: str) -> str:
    inner = render_key(key, quoting) + ": " + render_string(value, '"')
    for name in reversed(path):
        inner = f"{render_key(name, quoting)}: {{ {inner} }}"
    return f"{{ {inner} }}"


def key_style(text: str, node: Node) -> str:
    """How this object's keys are written: '"', "'" or "" (bare identifiers); JSON style when it has none. For a
    list, the style of the first object in it that has members."""
    if isinstance(node, ArraySpan):
        objects = (e.node for e in node.elements if isinstance(e.node, ObjectSpan) and e.node.members)
        return key_style(text, next(objects, ObjectSpan(0, 0)))
    if not node.members:
        return '"'
    first = text[node.members[-1].key_start]
    return first if first in ("'", '"') else ""


def quote_style(text: str, node: Node) -> str:
    """The quote of this container's string values ('"' unless they are all single-quoted). For a list of
    objects, the quote of the first one's values."""
    quotes = {text[item.value_start] for item in node.items if text[item.value_start] in ("'", '"')}
    if not quotes and isinstance(node, ArraySpan):
        objects = (e.node for e in node.elements if isinstance(e.node, ObjectSpan) and e.node.members)
        return quote_style(text, next(objects, ObjectSpan(0, 0)))
    return "'" if quotes == {"'"} else '"'


def indent_unit(text: str) -> str:
    """One step of this document's indentation: the first indented line's leading space (two spaces if none)."""
    for line in text.splitlines():
        space = leading_space(line)
        if space and line.strip():
            return space
    return "  "


def leading_space(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def render_key(key: str, style: str) -> str:
    if style == "" and _IDENTIFIER.match(key):
        return key
    return render_string(key, "'" if style == "'" else '"')


def render_string(value: str, quote: str) -> str:
    if quote == "'":
        body = json.dumps(value, ensure_ascii=False)[1:-1].replace('\\"', '"').replace("'", "\\'")
        return f"'{body}'"
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Placement:
    """How a new item sits in a container: on a line of its own at `indent` (`multiline`), or inline."""

    multiline: bool
    indent: str


def placement(text: str, node: Node) -> Placement:
    """Where `insert_item` puts a new item: after the last one, on its own line when the items and the closing
    bracket each have their own lines (indented as the last item, or one step in from an empty container's
    bracket), else inline."""
    close = node.end - 1
    line_start = text.rfind("\n", 0, close) + 1
    bracket_alone = text[line_start:close].strip() == ""
    if not node.items:
        if bracket_alone and "\n" in text[node.start + 1 : close]:
            indent = text[line_start:close]
            return Placement(True, indent + ("\t" if indent.startswith("\t") else "  "))
        return Placement(False, "")
    last = node.items[-1]
    item_line = text.rfind("\n", 0, last.start) + 1
    indent = text[item_line : last.start]
    return Placement(bracket_alone and indent.strip() == "" and "\n" in text[last.value_end : close], indent)


def insert_item(text: str, node: Node, entry: str) -> str:
    """`text` with `entry` (an object's `key: value`, or an array's element) after the container's last item,
    placed as `placement` says, with a comma where one is needed and a trailing comma when the last item had one."""
    close = node.end - 1  # the "}" or "]"
    line_start = text.rfind("\n", 0, close) + 1
    where = placement(text, node)
    if not node.items:
        if where.multiline:
            return text[:line_start] + f"{where.indent}{entry}\n" + text[line_start:]
        pad = " " if isinstance(node, ObjectSpan) else ""
        if text[node.start + 1 : close].strip() == "":
            return text[: node.start + 1] + f"{pad}{entry}{pad}" + text[close:]
        return text[:close] + f"{entry}{pad}" + text[close:]
    last = node.items[-1]
    comma = comma_after(text, last.value_end, close)
    if where.multiline:
        edited = text[:line_start] + f"{where.indent}{entry}{',' if comma is not None else ''}\n" + text[line_start:]
        if comma is None:
            edited = edited[: last.value_end] + "," + edited[last.value_end :]
        return edited
    if comma is None:
        return text[: last.value_end] + f", {entry}" + text[last.value_end :]
    return text[: comma + 1] + f" {entry}," + text[comma + 1 :]


def comma_after(text: str, start: int, stop: int) -> int | None:
    """Index of the comma that follows an item's value (comments and whitespace skipped), if any."""
    parser = _Parser(text)
    parser.pos = start
    parser.skip()
    if parser.pos < stop and text[parser.pos] == ",":
        return parser.pos
    return None
