"""Raw control characters inside JSON strings, escaped across fragment boundaries (providers/json_text.py)."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ccrouter.providers.openai_chat.json_text import JsonStringEscaper


def loose_json_string(text: str) -> str:
    """`text` as a JSON string whose quotes and backslashes are escaped but whose control characters are raw,
    as a grammar-constrained local server writes it."""
    return '"' + "".join("\\" + c if c in '"\\' else c for c in text) + '"'


def feed_in_pieces(text: str, cuts: list[int]) -> str:
    escaper = JsonStringEscaper()
    bounds = [0, *sorted(c % (len(text) + 1) for c in cuts), len(text)]
    return "".join(escaper.feed(text[a:b]) for a, b in itertools.pairwise(bounds))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.text(max_size=30), max_size=4), st.lists(st.integers(0, 10_000)))
def test_loose_strings_become_strict_json_wherever_the_text_is_cut(value: dict[str, str], cuts: list[int]) -> None:
    loose = "{\n" + ",\n\t".join(f"{loose_json_string(k)}: {loose_json_string(v)}" for k, v in value.items()) + "\n}"
    assert json.loads(feed_in_pieces(loose, cuts)) == value


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    ),
    st.lists(st.integers(0, 10_000)),
)
def test_strict_json_passes_unchanged(value: object, cuts: list[int]) -> None:
    strict = json.dumps(value, indent=1)
    assert feed_in_pieces(strict, cuts) == strict


def test_an_escape_split_across_fragments() -> None:
    escaper = JsonStringEscaper()
    pieces = [escaper.feed(p) for p in ['{"a": "x\\', '"\n', '"}']]
    assert pieces == ['{"a": "x\\', '"\\u000a', '"}']
    assert json.loads("".join(pieces)) == {"a": 'x"\n'}
