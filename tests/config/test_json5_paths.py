"""General minimal JSON5 edits (`config/json5_paths.py`): set, append and delete at any path change exactly the
text they must, in the style around it, and everything else stays byte for byte; anything doubtful is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import json5
import pytest

from ccrouter.config.json5_edit import ArraySpan, EditError, Element, Member, Node, parse_spans
from ccrouter.config.json5_paths import (
    Edit,
    JsonPath,
    PathError,
    append_value,
    apply_edits,
    delete_value,
    set_value,
)
from tests.support.paths import EXAMPLES_DIR, FIXTURES_DIR

ODD = (FIXTURES_DIR / "dashboard_config" / "odd.config.json5").read_text(encoding="utf-8")
DOCUMENTS = {
    "odd": ODD,
    "seed-multi": (EXAMPLES_DIR / "seed-multi.config.json").read_text(encoding="utf-8"),
    "seed-minimal": (EXAMPLES_DIR / "seed-minimal.config.json").read_text(encoding="utf-8"),
}


def spans(text: str) -> Iterator[tuple[JsonPath, Node, Member | Element]]:
    """Every member and element of the document: its path, its container and its spans."""
    pending: list[tuple[JsonPath, Node]] = [((), parse_spans(text))]
    while pending:
        path, node = pending.pop()
        for index, item in enumerate(node.items):
            step = item.key if isinstance(item, Member) else index
            yield (*path, step), node, item
            if item.node is not None:
                pending.append(((*path, step), item.node))


def value_at(data: Any, path: JsonPath) -> Any:
    for step in path:
        data = data[step]
    return data


# ---------------------------------------------------------------------------------------------------------------
# Every value of real configs: set, delete, append touch only their own span


@pytest.mark.parametrize("name", DOCUMENTS)
@pytest.mark.parametrize("value", ["new,value", {"use": ["x"], "k": {"n": [1, 2]}}])
def test_setting_any_value_replaces_only_its_span(name: str, value: Any) -> None:
    text = DOCUMENTS[name]
    document = json5.loads(text)
    for path, _node, item in spans(text):
        edited = apply_edits(text, [Edit("set", path, value)], document=document)
        new_end = len(edited) - (len(text) - item.value_end)
        assert edited[: item.value_start] == text[: item.value_start], path
        assert edited[new_end:] == text[item.value_end :], path
        assert json5.loads(edited[item.value_start : new_end]) == value, path


@pytest.mark.parametrize("name", DOCUMENTS)
def test_deleting_any_member_or_element_keeps_every_other_item_byte_for_byte(name: str) -> None:
    text = DOCUMENTS[name]
    document = json5.loads(text)
    for path, node, item in spans(text):
        edited = apply_edits(text, [Edit("delete", path)], document=document)
        siblings = node.items
        index = next(i for i, sibling in enumerate(siblings) if sibling is item)
        before = siblings[index - 1].value_end if index else node.start + 1
        after = siblings[index + 1].start if index + 1 < len(siblings) else node.end - 1
        assert edited.startswith(text[:before]) and edited.endswith(text[after:]), path
        between = edited[before : len(edited) - (len(text) - after)]  # only blanks, commas and comments remain
        assert re.fullmatch(r"[\s,]*", re.sub(r"//[^\n]*|/\*.*?\*/", "", between, flags=re.DOTALL)), path


@pytest.mark.parametrize("name", DOCUMENTS)
def test_appending_to_any_list_adds_after_its_last_item_only(name: str) -> None:
    text = DOCUMENTS[name]
    lists = [(path, item.node) for path, _, item in spans(text) if isinstance(item.node, ArraySpan)]
    assert lists
    for path, array in lists:
        edited = append_value(text, path, {"name": "added", "models": ["m"]})
        keep = array.elements[-1].value_end if array.elements else array.start + 1
        close_line = text.rfind("\n", 0, array.end - 1) + 1
        tail = close_line if text[close_line : array.end - 1].strip() == "" else array.end - 1
        assert edited.startswith(text[:keep]) and edited.endswith(text[tail:]), path
        assert value_at(json5.loads(edited), path)[-1] == {"name": "added", "models": ["m"]}


# ---------------------------------------------------------------------------------------------------------------
# Exact shapes


@pytest.mark.parametrize(
    ("before", "edit", "after"),
    [
        # set: the old value's quote, the comments around it and the other keys stay
        ("{a: 'x', /* c */ b: 1}", Edit("set", ("a",), "y"), "{a: 'y', /* c */ b: 1}"),
        ('{"a": [1, 2, 3,], }', Edit("set", ("a", 1), 9), '{"a": [1, 9, 3,], }'),
        # keys as parsers read them: escapes decoded, any quote
        (r"""{"a\u0062": 1, 'c\'d': 2, 'e"': 3}""", Edit("set", ("ab",), 0), r"""{"a\u0062": 0, 'c\'d': 2, 'e"': 3}"""),
        (
            r"""{"a\u0062": 1, 'c\'d': 2, 'e"': 3}""",
            Edit("set", ("c'd",), 0),
            r"""{"a\u0062": 1, 'c\'d': 0, 'e"': 3}""",
        ),
        ('{"a": {"b": 1}}', Edit("set", ("a", "c", "d"), True), '{"a": {"b": 1, "c": {"d": true}}}'),
        ('{"a": null}', Edit("set", ("a", "b"), "x"), '{"a": {"b": "x"}}'),
        ("{\n  a: 1\n}\n", Edit("set", ("b",), {"k": "v"}), '{\n  a: 1,\n  b: {\n    k: "v"\n  }\n}\n'),
        (
            '{\n\t"m": [\n\t\t"a",\n\t],\n}',
            Edit("set", ("m",), ["a", "b"]),
            '{\n\t"m": [\n\t\t"a",\n\t\t"b",\n\t],\n}',  # a list that had lines keeps them, and its trailing comma
        ),
        # append: inline, multi-line with trailing commas, empty, missing (the list is created)
        ("{a: ['x']}", Edit("append", ("a",), "y"), "{a: ['x', 'y']}"),
        ('{\n  "a": [\n    1,\n  ],\n}', Edit("append", ("a",), 2), '{\n  "a": [\n    1,\n    2,\n  ],\n}'),
        ('{"a": []}', Edit("append", ("a",), 1), '{"a": [1]}'),
        ('{\n  "a": 1\n}', Edit("append", ("b",), {"n": 1}), '{\n  "a": 1,\n  "b": [\n    {"n": 1}\n  ]\n}'),
        # delete: the item, its comma, its own lines and the comment lines above it; others' comments stay
        ('{"a": 1, "b": 2, "c": 3}', Edit("delete", ("b",)), '{"a": 1, "c": 3}'),
        ('{"a": 1, "b": 2}', Edit("delete", ("b",)), '{"a": 1}'),
        ("[", Edit("delete", ("x",)), None),
        ('{"a": [1]}', Edit("delete", ("a", 0)), '{"a": []}'),
        (
            '{\n  "a": 1, // about a\n  // about b\n  "b": 2, // b again\n  "c": 3\n}',
            Edit("delete", ("b",)),
            '{\n  "a": 1, // about a\n  "c": 3\n}',
        ),
        (
            '{\n  "a": 1, // about a\n\n  // c\n  "c": 3\n}',
            Edit("delete", ("c",)),
            '{\n  "a": 1 // about a\n\n}',
        ),
        ('{\n  "a": [\n    "x"\n  ]\n}', Edit("delete", ("a", 0)), '{\n  "a": []\n}'),
    ],
)
def test_edit_shapes(before: str, edit: Edit, after: str | None) -> None:
    if after is None:
        with pytest.raises(EditError):
            apply_edits(before, [edit])
        return
    assert apply_edits(before, [edit]) == after


def test_a_new_provider_in_a_multi_line_list_gets_lines_of_its_own_in_the_siblings_style() -> None:
    text = "{\n  providers: [\n    {\n      name: 'a',\n      models: ['m'],\n    },\n  ],\n}\n"
    provider = {"name": "b", "api_key": "$B_KEY", "models": ["x", "y"], "transformer": {"use": ["deepseek"]}}
    assert append_value(text, ("providers",), provider) == (
        "{\n  providers: [\n    {\n      name: 'a',\n      models: ['m'],\n    },\n"
        "    {\n      name: 'b',\n      api_key: '$B_KEY',\n      models: ['x', 'y'],\n"
        "      transformer: {use: ['deepseek']},\n    },\n  ],\n}\n"
    )


def test_several_edits_apply_in_order_and_are_verified_together() -> None:
    text = '{"P": [{"n": "a"}], "R": {}}'
    edits = [Edit("append", ("P",), {"n": "b"}), Edit("set", ("P", 1, "n"), "c"), Edit("delete", ("P", 0))]
    assert apply_edits(text, edits) == '{"P": [{"n": "c"}], "R": {}}'


# ---------------------------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize(
    ("text", "edit", "words"),
    [
        ('{"a": [1]}', Edit("set", ("a", 1), 2), "past the end"),
        ('{"a": "s"}', Edit("set", ("a", "b"), 2), "a string, not an object"),
        ('{"a": {}}', Edit("delete", ("a", "b")), "a.b does not exist"),
        ('{"a": {}}', Edit("append", ("a",), 1), "not a list"),
        ('{"a": [1]}', Edit("set", ("a", "k"), 1), "a list, not an object"),
        ("{}", Edit("set", (), 1), "empty"),
    ],
)
def test_a_path_the_document_does_not_have_is_a_path_error(text: str, edit: Edit, words: str) -> None:
    with pytest.raises(PathError, match=words) as raised:
        apply_edits(text, [Edit("set", ("a_first",), 0), edit])
    assert raised.value.index == 1


def test_an_edit_that_would_change_another_value_is_refused() -> None:
    # JSON5 reads the last of two equal keys; removing it would bring the first one back.
    with pytest.raises(EditError, match="does not read back"):
        delete_value('{"a": 1, "a": 2}', ("a",))


@pytest.mark.parametrize("text", ["{1: 2}", '{"a": 1} x', "[1]", '{"a": "unterminated}'])
def test_text_the_reader_does_not_understand_is_refused(text: str) -> None:
    with pytest.raises(EditError):
        set_value(text, ("a",), 1)
