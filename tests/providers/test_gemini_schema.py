"""Tool schemas -> the OpenAPI subset Gemini accepts (gemini_schema)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccrouter.providers.gemini.schema import function_parameters, response_schema
from tests.support.gemini_cases import schema_problems


def params(properties: dict[str, Any], **extra: Any) -> dict[str, Any] | None:
    return function_parameters({"type": "object", "properties": properties, **extra})


def prop(schema: dict[str, Any]) -> Any:
    out = params({"p": schema})
    assert out is not None
    return out["properties"]["p"]


def test_no_arguments_means_no_parameters() -> None:
    assert function_parameters({"type": "object", "properties": {}}) is None
    assert function_parameters({"type": "object"}) is None
    assert function_parameters({"type": "object", "additionalProperties": {"type": "string"}}) is None
    assert function_parameters(None) is None
    assert function_parameters({"type": "string"}) is None


def test_unknown_keywords_are_dropped_everywhere() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "x",
        "type": "object",
        "additionalProperties": False,
        "propertyNames": {"pattern": "^a"},
        "patternProperties": {"^S_": {"type": "string"}},
        "properties": {"a": {"type": "string", "examples": ["x"], "$comment": "c", "readOnly": True}},
    }
    assert function_parameters(schema) == {"type": "object", "properties": {"a": {"type": "string"}}}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"const": "fast"}, {"type": "string", "enum": ["fast"]}),
        ({"const": 3}, {"type": "integer", "description": "(Must be 3.)"}),
        ({"type": "integer", "enum": [1, 2]}, {"type": "integer", "description": "(One of: 1, 2.)"}),
        ({"type": "string", "enum": ["a", None]}, {"type": "string", "enum": ["a"], "nullable": True}),
        ({"enum": ["a", "b"]}, {"type": "string", "enum": ["a", "b"]}),
        ({"enum": [1, "b"]}, {"type": "string", "enum": ["1", "b"]}),
        ({"type": "integer", "exclusiveMinimum": 0}, {"type": "integer", "minimum": 1}),
        ({"type": "integer", "exclusiveMaximum": 5, "maximum": 3}, {"type": "integer", "maximum": 3}),
        ({"type": "number", "exclusiveMinimum": 0.5}, {"type": "number", "minimum": 0.5}),
        ({"type": "integer", "exclusiveMinimum": True, "minimum": 2}, {"type": "integer", "minimum": 2}),
        ({"type": ["string", "null"]}, {"type": "string", "nullable": True}),
        (
            {"type": ["null"]},
            {
                "anyOf": [
                    {"type": "string"},
                    {"type": "number"},
                    {"type": "boolean"},
                    {"type": "object"},
                    {"type": "array", "items": {"type": "string"}},
                ],
                "nullable": True,
            },
        ),
        (
            {"anyOf": [{"type": "null"}, {"type": "integer"}], "description": "d"},
            {"type": "integer", "description": "d", "nullable": True},
        ),
        (
            {"oneOf": [{"type": "string"}, {"type": "integer"}], "default": "x"},
            {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        ),
        ({"type": "string", "format": "uri"}, {"type": "string"}),
        ({"type": "string", "format": "date-time"}, {"type": "string", "format": "date-time"}),
        ({"type": "integer", "format": "int64"}, {"type": "integer", "format": "int64"}),
        (
            {"type": "array"},
            {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"type": "string"},
                        {"type": "number"},
                        {"type": "boolean"},
                        {"type": "object"},
                        {"type": "array", "items": {"type": "string"}},
                    ]
                },
            },
        ),
        ({"type": "string", "properties": {"a": {}}, "required": ["a"], "items": {}}, {"type": "string"}),
        ({"type": "object", "properties": {}}, {"type": "object"}),
        (
            {"type": "object", "additionalProperties": {"type": "integer"}, "description": "Counts."},
            {"type": "object", "description": "Counts. (An object with free-form keys; each value is an integer.)"},
        ),
        (
            {"type": "object", "additionalProperties": {}},
            {"type": "object", "description": "(An object with free-form keys; each value is any JSON value.)"},
        ),
        ({"type": "string", "minLength": -1, "maxLength": True, "pattern": 5}, {"type": "string"}),
        ({"type": "boolean", "default": None}, {"type": "boolean"}),
    ],
)
def test_keyword_conversions(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert prop(schema) == expected


def test_refs_are_inlined_and_recursion_stops() -> None:
    schema = {
        "type": "object",
        "definitions": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/definitions/Node"}}}},
        "$defs": {"Leaf": {"type": "string", "description": "leaf"}},
        "properties": {
            "node": {"$ref": "#/definitions/Node"},
            "leaf": {"$ref": "#/$defs/Leaf", "description": "overridden"},
            "dangling": {"$ref": "#/$defs/Missing"},
        },
    }
    out = function_parameters(schema)
    assert out is not None
    assert out["properties"]["node"] == {"type": "object", "properties": {"next": {"type": "object"}}}
    assert out["properties"]["leaf"] == {"type": "string", "description": "overridden"}
    assert out["properties"]["dangling"] == {"type": "object"}


def test_all_of_is_merged() -> None:
    schema = {"allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"description": "both"}]}
    assert prop(schema) == {
        "type": "object",
        "description": "both",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
    }


def test_required_names_only_existing_properties_once() -> None:
    out = params({"a": {"type": "string"}}, required=["a", "a", "ghost", 3])
    assert out is not None and out["required"] == ["a"]
    out = params({"a": {"type": "string"}}, required=["ghost"])
    assert out is not None and "required" not in out


def test_deep_nesting_is_cut_off_with_a_valid_schema() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(60):
        schema = {"type": "object", "properties": {"x": schema}}
    out = function_parameters(schema)
    assert out is not None and schema_problems(out) == []


def test_response_schema_keeps_a_non_object_root() -> None:
    assert response_schema({"type": "array", "items": {"type": "string"}}) == {
        "type": "array",
        "items": {"type": "string"},
    }
    assert response_schema("nope") is None


# ---------------------------------------------------------------------------------------------------------
# Property: whatever JSON Schema a tool brings, Gemini's rules hold for what is sent, and the input is untouched.

_KEYWORDS = st.sampled_from(
    [
        "type",
        "format",
        "title",
        "description",
        "enum",
        "const",
        "default",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "pattern",
        "minItems",
        "required",
        "additionalProperties",
        "propertyNames",
        "$schema",
        "nullable",
        "examples",
    ]
)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False), st.text("abc", max_size=3)
)
_TYPE = st.one_of(
    st.sampled_from(["string", "number", "integer", "boolean", "array", "object", "null", "weird"]),
    st.lists(st.sampled_from(["string", "integer", "null", "object"]), max_size=3),
)


def _value(keyword: str) -> st.SearchStrategy[Any]:
    if keyword == "type":
        return _TYPE
    if keyword == "format":
        return st.sampled_from(["date-time", "uri", "int64", "enum", "double"])
    if keyword in ("enum", "required", "examples"):
        return st.lists(_SCALARS, max_size=3)
    return _SCALARS


@st.composite
def _node(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for keyword in draw(st.lists(_KEYWORDS, max_size=4, unique=True)):
        node[keyword] = draw(_value(keyword))
    if depth < 3:
        children = st.deferred(lambda: _node(depth + 1))
        shape = draw(st.sampled_from(["leaf", "properties", "items", "anyOf", "oneOf", "allOf", "ref", "map"]))
        if shape == "properties":
            node["properties"] = draw(st.dictionaries(st.text("xyz", min_size=1, max_size=2), children, max_size=3))
        elif shape == "items":
            node["items"] = draw(st.one_of(children, st.lists(children, max_size=2)))
        elif shape in ("anyOf", "oneOf", "allOf"):
            node[shape] = draw(st.lists(st.one_of(children, st.just({"type": "null"})), max_size=3))
        elif shape == "ref":
            node["$ref"] = draw(st.sampled_from(["#/$defs/A", "#/$defs/Missing", "#/definitions/B"]))
        elif shape == "map":
            node["additionalProperties"] = draw(children)
    return node


@settings(max_examples=300, deadline=None)
@given(root=_node(), defs=st.dictionaries(st.sampled_from(["A", "B"]), _node(2), max_size=2))
def test_any_schema_becomes_one_gemini_accepts(root: dict[str, Any], defs: dict[str, Any]) -> None:
    schema = {"type": "object", "properties": {"root": root}, "$defs": defs, "definitions": defs}
    before = copy.deepcopy(schema)
    out = function_parameters(schema)
    assert schema == before
    assert out is not None
    assert schema_problems(out) == []
    structured = response_schema(root)
    assert structured is not None and schema_problems(structured, "responseSchema") == []


def test_the_checker_rejects_what_gemini_rejects() -> None:
    """The rules `schema_problems` applies are the ones Gemini's 400s state (so the property above means it)."""
    raw = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "a": {"description": "no type"},
            "b": {"type": "object", "properties": {}},
            "c": {"type": "integer", "enum": [1, 2]},
            "d": {"type": "array"},
            "e": {"type": "string", "anyOf": [{"type": "string"}]},
            "f": {"type": "string", "format": "uri", "required": ["x"]},
        },
        "required": ["ghost"],
    }
    assert sorted(schema_problems(raw)) == [
        "parameters.$schema: unknown field",
        "parameters.additionalProperties: unknown field",
        "parameters.properties[a].type: must be specified (got None)",
        "parameters.properties[b].properties: should be non-empty for OBJECT type",
        "parameters.properties[c].enum: only string values on a STRING type",
        "parameters.properties[d].items: missing field",
        "parameters.properties[e]: type and anyOf together",
        "parameters.properties[f].format: 'uri' is not supported for string",
        "parameters.properties[f].required: only allowed for OBJECT type",
        "parameters.required: names a property that is not defined",
    ]
    assert schema_problems(function_parameters(raw)) == []
