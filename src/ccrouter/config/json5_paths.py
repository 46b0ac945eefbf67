"""Minimal textual edits of a JSON5 document at any path of object keys and array indices: set, append, delete.

The dashboard changes a user's commented config one value at a time, and every byte it was not asked to change
must stay as the user wrote it. Each edit finds the spans of the path (`json5_edit.parse_spans`), then replaces,
inserts or removes exactly one value's text, rendered in the style around it (the siblings' indentation, key
quoting and string quotes; an object or a list of objects inserted into a multi-line container gets lines of its
own). The same edits are applied to the parsed document in Python, and the edited text must parse to exactly that
document, or `EditError` is raised: an edit can never change another value. A path that does not name what the
edit needs (an index past the end, a key inside a string) raises `PathError`, the caller's mistake.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import json5

from ccrouter.config.json5_edit import (
    ArraySpan,
    EditError,
    Element,
    Member,
    Node,
    ObjectSpan,
    comma_after,
    indent_unit,
    insert_item,
    key_style,
    last_member,
    leading_space,
    parse_spans,
    placement,
    quote_style,
    render_key,
    render_string,
)

Step = str | int
JsonPath = tuple[Step, ...]
Operation = Literal["set", "append", "delete"]
Layout = Literal["inline", "auto", "lines"]
LINE_WIDTH = 100  # a nested object or list rendered on one line must fit in this many columns


class PathError(EditError):
    """The path does not name what the edit needs in this document; the message says which step and why, and
    `index` which of the edits given to `apply_edits` it was."""

    index: int | None = None


@dataclass(frozen=True)
class Edit:
    """`set` puts `value` at `path` (creating missing objects on the way); `append` adds `value` to the list at
    `path` (creating the list when the member is missing); `delete` removes the member or element at `path`.
    Values are what `json.loads` makes."""

    op: Operation
    path: JsonPath
    value: Any = None


@dataclass(frozen=True)
class _Style:
    keys: str  # '"', "'" or "" (bare identifiers), as json5_edit.key_style
    quote: str  # the quote of new strings
    unit: str  # one step of indentation
    trailing: str  # "," when the multi-line containers here end their last item with a comma, else ""


def set_value(text: str, path: JsonPath, value: Any) -> str:
    return apply_edits(text, [Edit("set", path, value)])


def append_value(text: str, path: JsonPath, value: Any) -> str:
    return apply_edits(text, [Edit("append", path, value)])


def delete_value(text: str, path: JsonPath) -> str:
    return apply_edits(text, [Edit("delete", path)])


def apply_edits(text: str, edits: Sequence[Edit], *, document: Any = None) -> str:
    """`text` with every edit applied in order, verified once at the end: the result must parse to the document
    the edits make of the original (a JSON5 parse is slow, ~10 ms per kB, so not once per edit). `document` is
    `text` parsed, when the caller has it already."""
    expected = loads(text) if document is None else copy.deepcopy(document)
    for index, edit in enumerate(edits):
        try:
            apply_to_data(expected, edit)
        except PathError as exc:
            exc.index = index
            raise
        text = _edit_text(text, edit)
    try:
        result = loads(text)
    except EditError:
        result = None
    if result != expected:
        raise EditError("the edited text does not read back as the intended document")
    return text


def loads(text: str) -> Any:
    """The document a text holds: plain JSON at the standard library's speed, else JSON5."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        try:
            return json5.loads(text)
        except (ValueError, RecursionError) as exc:
            raise EditError(f"the text is not valid JSON5 ({exc})") from None


def shown_path(path: JsonPath) -> str:
    """A path as messages show it: Providers[2].models."""
    parts: list[str] = []
    for step in path:
        parts.append(f"[{step}]" if isinstance(step, int) else (f".{step}" if parts else step))
    return "".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# The edit applied to the parsed document


def apply_to_data(data: Any, edit: Edit) -> None:
    """Apply `edit` to the parsed document `data`, in place."""
    if not edit.path:
        raise PathError("the path is empty; name a member of the top-level object")
    *parents, last = edit.path
    container = data
    for depth, step in enumerate(parents):
        container = _child(container, step, edit.path[: depth + 1], create=edit.op != "delete")
    if edit.op == "append":
        if isinstance(container, dict) and isinstance(last, str) and container.get(last) is None:
            container[last] = []
        target = _child(container, last, edit.path, create=False)
        if not isinstance(target, list):
            raise PathError(f"{shown_path(edit.path)} is {_kind(target)}, not a list; only a list can be appended to")
        target.append(copy.deepcopy(edit.value))
        return
    _check_step(container, last, edit.path, for_set=edit.op == "set")
    if edit.op == "set":
        container[last] = copy.deepcopy(edit.value)
    else:
        del container[last]


def _child(container: Any, step: Step, where: JsonPath, *, create: bool) -> Any:
    """The value at `step` in `container`; with `create`, a missing (or null) object member becomes {}."""
    if create and isinstance(container, dict) and isinstance(step, str) and container.get(step) is None:
        container[step] = {}
    _check_step(container, step, where, for_set=False)
    return container[step]


def _check_step(container: Any, step: Step, where: JsonPath, *, for_set: bool) -> None:
    if isinstance(container, dict) and isinstance(step, str):
        if step not in container and not for_set:
            raise PathError(f"{shown_path(where)} does not exist")
        return
    if isinstance(container, list) and isinstance(step, int) and not isinstance(step, bool):
        if not 0 <= step < len(container):
            raise PathError(
                f"{shown_path(where)} is past the end: {shown_path(where[:-1]) or 'the list'} has "
                f"{len(container)} item(s), numbered from 0 (use append to add one)"
            )
        return
    wanted = "an object" if isinstance(step, str) else "a list"
    raise PathError(f"{shown_path(where[:-1])} is {_kind(container)}, not {wanted}, so it has no {step!r}")


def _kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "true or false", type(None): "null"}
    return kinds.get(type(value), "a number")


# ---------------------------------------------------------------------------------------------------------------
# The edit applied to the text


def _edit_text(text: str, edit: Edit) -> str:
    root = parse_spans(text)
    steps = edit.path if edit.op == "append" else edit.path[:-1]
    node: Node = root
    for depth, step in enumerate(steps):
        slot = _find(node, step)
        if slot is None or text[slot.value_start : slot.value_end] == "null":
            if edit.op == "delete":
                raise PathError(f"{shown_path(edit.path[: depth + 1])} does not exist")
            return _create(text, node, slot, step, _missing_value(edit, depth))
        if slot.node is None:
            raise PathError(f"{shown_path(edit.path[: depth + 1])} is neither an object nor a list")
        node = slot.node
    if edit.op == "append":
        if not isinstance(node, ArraySpan):
            raise PathError(f"{shown_path(edit.path)} is not a list; only a list can be appended to")
        return insert_item(text, node, _render_new(text, node, edit.value))
    last = edit.path[-1]
    slot = _find(node, last)
    if edit.op == "delete":
        if slot is None:
            raise PathError(f"{shown_path(edit.path)} does not exist")
        return _delete(text, node, slot)
    if slot is None:
        return _create(text, node, None, last, edit.value)
    return _replace(text, node, slot, edit.value)


def _find(node: Node, step: Step) -> Member | Element | None:
    """The member (the last one of that key, as parsers read duplicates) or element at `step`; None for a missing
    member. An index past the end or a step of the wrong kind is a PathError."""
    if isinstance(node, ObjectSpan) and isinstance(step, str):
        return last_member(node, step)
    if isinstance(node, ArraySpan) and isinstance(step, int) and 0 <= step < len(node.elements):
        return node.elements[step]
    raise PathError(f"no {step!r} in {'an object' if isinstance(node, ObjectSpan) else 'a list'} of the text")


def _missing_value(edit: Edit, depth: int) -> Any:
    """What a missing member at `edit.path[depth]` becomes: the rest of the path as nested objects around the
    value (set), or a list of the value (append)."""
    value = [edit.value] if edit.op == "append" else edit.value
    rest = edit.path[depth + 1 :]
    for step in reversed(rest):
        if not isinstance(step, str):
            raise PathError(f"{shown_path(edit.path[: depth + 1])} does not exist, so it has no [{step}]")
        value = {step: value}
    return value


def _create(text: str, node: Node, slot: Member | Element | None, step: Step, value: Any) -> str:
    """`value` where a missing member goes (inserted after the object's last member), or over a null."""
    if slot is not None:
        return _replace(text, node, slot, value)
    if not isinstance(node, ObjectSpan) or not isinstance(step, str):
        raise PathError(f"{step!r} cannot be added here")
    key = render_key(step, key_style(text, node))
    return insert_item(text, node, f"{key}: {_render_new(text, node, value, len(key) + 2)}")


def _replace(text: str, node: Node, slot: Member | Element, value: Any) -> str:
    """`value` over the slot's value: a string keeps its quote; a value that spanned lines (or a scalar in a
    multi-line container becoming an object) is rendered on lines of its own."""
    old = text[slot.value_start : slot.value_end]
    style = _style(text, slot.node if slot.node is not None and slot.node.items else node)
    if old[:1] in ("'", '"'):
        style = dataclasses.replace(style, quote=old[0])
    line_start = text.rfind("\n", 0, slot.start) + 1
    indent = text[line_start : slot.start]
    indent = indent if indent.strip() == "" else leading_space(indent)
    layout: Layout = (
        "lines" if "\n" in old else "auto" if slot.node is None and placement(text, node).multiline else "inline"
    )
    rendered = _render(value, style, indent, layout, slot.value_start - line_start)
    return text[: slot.value_start] + rendered + text[slot.value_end :]


def _render_new(text: str, node: Node, value: Any, prefix: int = 0) -> str:
    where = placement(text, node)
    indent = where.indent if where.multiline else ""
    return _render(value, _style(text, node), indent, "auto" if where.multiline else "inline", len(indent) + prefix)


def _style(text: str, node: Node) -> _Style:
    """The style of new text in `node`; strings take the quote of the keys seen there, as JSON's "key": "value"."""
    keys = key_style(text, node)
    objects = [node] if isinstance(node, ObjectSpan) else [e.node for e in node.elements if e.node is not None]
    seen = any(isinstance(o, ObjectSpan) and o.members for o in objects)
    trailing = bool(node.items) and placement(text, node).multiline
    trailing = trailing and comma_after(text, node.items[-1].value_end, node.end - 1) is not None
    return _Style(keys, keys if seen and keys else quote_style(text, node), indent_unit(text), "," if trailing else "")


# ---------------------------------------------------------------------------------------------------------------
# Rendering a value


def _render(value: Any, style: _Style, indent: str, layout: Layout, column: int) -> str:
    """`value` as JSON5 text in `style`. `inline`: on one line. `lines`: a non-empty object or list with a line for
    each item (it replaces one written so). `auto`: so for an object, a list that holds objects or lists, or one too
    wide for a line, else inline. Nested values stay on one line when they are shallow and fit."""
    one_line = _one_line(value, style)
    if not isinstance(value, (dict, list)) or not value or layout == "inline":
        return one_line
    if layout == "auto" and isinstance(value, list) and _depth(value) < 2 and column + len(one_line) <= LINE_WIDTH:
        return one_line
    inner = indent + style.unit
    lines = []
    entries = [(render_key(k, style.keys) + ": ", v) for k, v in value.items()] if isinstance(value, dict) else []
    for head, item in entries or [("", v) for v in value]:
        fits = len(inner) + len(head) + len(_one_line(item, style)) <= LINE_WIDTH
        nested: Layout = "inline" if _depth(item) <= 2 and fits else "auto"
        lines.append(f"{inner}{head}{_render(item, style, inner, nested, len(inner) + len(head))}")
    brackets = "{}" if isinstance(value, dict) else "[]"
    return brackets[0] + "\n" + ",\n".join(lines) + style.trailing + "\n" + indent + brackets[1]


def _one_line(value: Any, style: _Style) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render_key(k, style.keys)}: {_one_line(v, style)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_one_line(v, style) for v in value) + "]"
    return render_string(value, style.quote) if isinstance(value, str) else json.dumps(value)


def _depth(value: Any) -> int:
    """How deeply objects and lists nest in `value` (a scalar 0, [1, 2] 1, {"use": ["x"]} 2)."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Deleting a member or an element


def _delete(text: str, node: Node, slot: Member | Element) -> str:
    """`text` without the item: with its comma, and, when it has lines of its own, those lines and the comment
    lines right above it (its own notes). Other items' comments stay. The last item going takes the previous
    item's comma, so a file without trailing commas gets none; a container left empty becomes `{}` or `[]`."""
    items: list[Member] | list[Element] = node.items
    index = next(i for i, item in enumerate(items) if item is slot)
    close = node.end - 1
    comma = comma_after(text, slot.value_end, close)
    previous_end = items[index - 1].value_end if index else node.start + 1
    previous_comma = comma_after(text, items[index - 1].value_end, close) if index else None
    own_start, end = _own_lines(text, slot.start, comma + 1 if comma is not None else slot.value_end, previous_end)
    if own_start is None:
        start, end = _inline_span(text, slot, comma, previous_comma)
    else:
        start = own_start
        if comma is None and previous_comma is not None:  # the new last item loses its comma too
            text, start, end, close = _cut(text, previous_comma, previous_comma + 1), start - 1, end - 1, close - 1
    edited = _cut(text, start, end)
    close -= end - start
    if len(items) == 1 and edited[node.start + 1 : close].strip() == "":
        edited = _cut(edited, node.start + 1, close)
    return edited


def _cut(text: str, start: int, end: int) -> str:
    return text[:start] + text[end:]


def _own_lines(text: str, start: int, end: int, floor: int) -> tuple[int | None, int]:
    """The span of the lines an item occupies alone (from its line's start to the end of the line it ends on,
    a trailing `//` comment included) plus the `//` comment lines right above it, after `floor`; (None, end) when
    the item shares a line with something else."""
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:start].strip() != "" or line_start < floor:
        return None, end
    rest = end
    while rest < len(text) and text[rest] in " \t":
        rest += 1
    if text.startswith("//", rest):
        rest = text.find("\n", rest)
        rest = len(text) if rest < 0 else rest
    if rest < len(text) and text[rest] not in "\r\n":
        return None, end
    line_end = text.find("\n", rest)
    end = len(text) if line_end < 0 else line_end + 1
    while line_start > floor:
        above = text.rfind("\n", 0, line_start - 1) + 1
        if above < floor or not text[above:line_start].strip().startswith("//"):
            break
        line_start = above
    return line_start, end


def _inline_span(text: str, slot: Member | Element, comma: int | None, previous_comma: int | None) -> tuple[int, int]:
    """An item on a shared line: itself, its comma and the spaces after it; the last item from the previous
    item's comma on."""
    if comma is not None:
        end = comma + 1
        while end < len(text) and text[end] in " \t":
            end += 1
        return slot.start, end
    if previous_comma is not None:
        return previous_comma, slot.value_end
    return slot.start, slot.value_end
