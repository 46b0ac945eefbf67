"""JSON Schema (a tool's `input_schema`) -> the OpenAPI subset Gemini accepts in a function's `parameters`.

Why `parameters` and not `parametersJsonSchema`: the JSON Schema field exists only on the newer API versions
(v1beta, Vertex v1beta1) and not on every proxy or older model, and the two fields cannot be mixed; the
OpenAPI `Schema` works everywhere Gemini does. Its rules, learnt the hard way by every gateway, are met here:

- only the Schema's own keywords pass (`$schema`, `$id`, `additionalProperties`, `propertyNames`,
  `patternProperties`, `const`, `oneOf`, `allOf`, `not`, `if`, `examples`, ... are unknown fields: a 400);
- every node needs a `type` unless it holds `anyOf` (and then it must not have one); `properties` and `required`
  only on objects, `items` only on arrays (and arrays need them), `enum` only on strings;
- `required` may only name properties that exist; an object's `properties` must not be empty;
- `$ref` is resolved inline from `$defs`/`definitions`, `allOf` merged, `oneOf` read as `anyOf`, type lists and
  `null` branches become `nullable`, `const` a one-value enum, `exclusiveMinimum`/`Maximum` the nearest
  `minimum`/`maximum`; what cannot be expressed (non-string enums, free-form maps) becomes a description hint.
"""

from __future__ import annotations

from typing import Any

_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
_FORMATS = {
    "string": frozenset({"enum", "date-time"}),
    "number": frozenset({"float", "double"}),
    "integer": frozenset({"int32", "int64"}),
}
# Schema keywords copied as they are (after a type check) when the node's type allows them.
_NUMBERS = ("minimum", "maximum")
_COUNTS = {
    "string": ("minLength", "maxLength"),
    "array": ("minItems", "maxItems"),
    "object": ("minProperties", "maxProperties"),
}
_MAX_DEPTH = 24
# A value of any type: what a schema without a type (`{}`, a bare description) means.
_ANY_BRANCHES = ("string", "number", "boolean", "object", "array")


def function_parameters(schema: Any) -> dict[str, Any] | None:
    """A tool's `input_schema` -> its declaration's `parameters`, or None when it takes no arguments (Gemini
    rejects an object whose `properties` are empty, so such functions are declared without parameters)."""
    if not isinstance(schema, dict):
        return None
    converted = _Converter(schema).convert(schema, 0, ())
    if converted.get("type") != "object" or not converted.get("properties"):
        return None
    return converted


def response_schema(schema: Any) -> dict[str, Any] | None:
    """A structured-output JSON Schema (`output_config.format.schema`) -> `generationConfig.responseSchema`."""
    if not isinstance(schema, dict):
        return None
    return _Converter(schema).convert(schema, 0, ())


class _Converter:
    def __init__(self, root: dict[str, Any]) -> None:
        self._defs: dict[str, Any] = {}
        for key in ("definitions", "$defs"):
            defs = root.get(key)
            if isinstance(defs, dict):
                for name, value in defs.items():
                    self._defs[f"#/{key}/{name}"] = value

    def convert(self, node: Any, depth: int, refs: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(node, dict) or depth > _MAX_DEPTH:
            return _any_value(None)
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = self._defs.get(ref)
            if not isinstance(target, dict) or ref in refs:  # unknown or recursive: a free-form object
                return _with_description({"type": "object"}, node.get("description"))
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return self.convert(merged, depth + 1, (*refs, ref))
        if isinstance(node.get("allOf"), list):
            return self.convert(_merge_all_of(node), depth + 1, refs)
        branches = node.get("anyOf") if isinstance(node.get("anyOf"), list) else node.get("oneOf")
        if isinstance(branches, list):
            return self._any_of(node, branches, depth, refs)
        kind = node.get("type")
        if isinstance(kind, list):
            return self._type_list(node, kind, depth, refs)
        return self._typed(node, _infer_type(node), depth, refs)

    def _any_of(self, node: dict[str, Any], branches: list[Any], depth: int, refs: tuple[str, ...]) -> dict[str, Any]:
        nullable = any(isinstance(b, dict) and b.get("type") == "null" for b in branches)
        kept = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf", "type")}
        if len(kept) == 1 and isinstance(kept[0], dict):
            out = self.convert({**kept[0], **rest}, depth + 1, refs)
        elif not kept:
            out = _any_value(rest.get("description"))
        else:
            out = {"anyOf": [self.convert(b, depth + 1, refs) for b in kept]}
            _copy_annotations(rest, out)
        if nullable:
            out["nullable"] = True
        return out

    def _type_list(self, node: dict[str, Any], kinds: list[Any], depth: int, refs: tuple[str, ...]) -> dict[str, Any]:
        names = [k for k in kinds if isinstance(k, str) and k in _TYPES]
        nullable = "null" in kinds
        rest = {k: v for k, v in node.items() if k != "type"}
        if len(names) == 1:
            out = self._typed(rest, names[0], depth, refs)
        elif not names:
            out = _any_value(rest.get("description"))
        else:
            out = {"anyOf": [self._typed(rest, name, depth + 1, refs, annotate=False) for name in names]}
            _copy_annotations(rest, out)
        if nullable:
            out["nullable"] = True
        return out

    def _typed(
        self, node: dict[str, Any], kind: str | None, depth: int, refs: tuple[str, ...], annotate: bool = True
    ) -> dict[str, Any]:
        if kind is None:
            return _any_value(node.get("description") if annotate else None)
        out: dict[str, Any] = {"type": kind}
        notes: list[str] = []
        if annotate:
            _copy_annotations(node, out)
        fmt = node.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS.get(kind, ()):
            out["format"] = fmt
        if node.get("nullable") is True:
            out["nullable"] = True
        _enum(node, kind, out, notes)
        if kind in ("number", "integer"):
            _bounds(node, kind, out)
        for key in _COUNTS.get(kind, ()):
            value = node.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                out[key] = value
        if kind == "string" and isinstance(node.get("pattern"), str):
            out["pattern"] = node["pattern"]
        if kind == "array":
            items = node.get("items")
            if isinstance(items, list):  # the old tuple form: its first entry stands for all
                items = items[0] if items else None
            out["items"] = self.convert(items, depth + 1, refs) if isinstance(items, dict) else _any_value(None)
        elif kind == "object":
            self._object(node, depth, refs, out, notes)
        if notes and annotate:
            out["description"] = " ".join([out["description"], *notes]) if out.get("description") else " ".join(notes)
        return out

    def _object(
        self, node: dict[str, Any], depth: int, refs: tuple[str, ...], out: dict[str, Any], notes: list[str]
    ) -> None:
        properties = node.get("properties")
        converted: dict[str, Any] = {}
        if isinstance(properties, dict):
            for name, schema in properties.items():
                if isinstance(name, str):
                    converted[name] = self.convert(schema, depth + 1, refs)
        if converted:
            out["properties"] = converted
            required = node.get("required")
            if isinstance(required, list):
                names = [r for r in dict.fromkeys(required) if isinstance(r, str) and r in converted]
                if names:
                    out["required"] = names
            return
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            value = extra.get("type")
            shape = value if isinstance(value, str) and value in _TYPES else "any JSON value"
            notes.append(f"(An object with free-form keys; each value is {_article(shape)}.)")


def _infer_type(node: dict[str, Any]) -> str | None:
    kind = node.get("type")
    if isinstance(kind, str):
        return kind if kind in _TYPES else None
    if "properties" in node or "required" in node or "additionalProperties" in node:
        return "object"
    if "items" in node:
        return "array"
    if "const" in node:
        const = node["const"]
        return _json_type(const)
    enum = node.get("enum")
    if isinstance(enum, list) and enum:
        types = {_json_type(v) for v in enum if v is not None}
        return types.pop() if len(types) == 1 else "string"
    return None


def _json_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return None


def _enum(node: dict[str, Any], kind: str, out: dict[str, Any], notes: list[str]) -> None:
    """`enum` and `const`: kept on strings; other types cannot carry one, so the values become a hint."""
    values: list[Any] | None = None
    if "const" in node:
        values = [node["const"]]
    elif isinstance(node.get("enum"), list):
        values = node["enum"]
    if not values:
        return
    if None in values:
        out["nullable"] = True
        values = [v for v in values if v is not None]
    if not values:
        return
    if kind == "string":
        out["enum"] = [v if isinstance(v, str) else _literal(v) for v in values]
        return
    if len(values) == 1:
        notes.append(f"(Must be {_literal(values[0])}.)")
    else:
        notes.append("(One of: " + ", ".join(_literal(v) for v in values) + ".)")


def _bounds(node: dict[str, Any], kind: str, out: dict[str, Any]) -> None:
    for key in _NUMBERS:
        value = node.get(key)
        if _is_number(value):
            out[key] = value
    # Draft 6+ exclusive bounds are numbers: the nearest inclusive bound (exact for integers).
    for key, target, step in (("exclusiveMinimum", "minimum", 1), ("exclusiveMaximum", "maximum", -1)):
        value = node.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or target in out:
            continue
        if kind == "integer" and float(value).is_integer():
            out[target] = int(value) + step
        else:
            out[target] = value


def _copy_annotations(node: dict[str, Any], out: dict[str, Any]) -> None:
    for key in ("title", "description"):
        if isinstance(node.get(key), str) and node[key]:
            out[key] = node[key]
    if "default" in node and "anyOf" not in out and node["default"] is not None:
        out["default"] = node["default"]
    if "example" in node and node["example"] is not None:
        out["example"] = node["example"]


def _merge_all_of(node: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    properties: dict[str, Any] = dict(merged.get("properties") or {})
    required: list[Any] = list(merged.get("required") or [])
    for part in node["allOf"]:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                for name, schema in value.items():
                    properties.setdefault(name, schema)
            elif key == "required" and isinstance(value, list):
                required += value
            else:
                merged.setdefault(key, value)
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _any_value(description: Any) -> dict[str, Any]:
    """A value of any type: Gemini needs a type on every node, so list them all."""
    branches: list[dict[str, Any]] = []
    for kind in _ANY_BRANCHES:
        branch: dict[str, Any] = {"type": kind}
        if kind == "array":
            branch["items"] = {"type": "string"}
        branches.append(branch)
    out: dict[str, Any] = {"anyOf": branches}
    return _with_description(out, description)


def _with_description(out: dict[str, Any], description: Any) -> dict[str, Any]:
    if isinstance(description, str) and description:
        out["description"] = description
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return str(value)


def _article(shape: str) -> str:
    return shape if shape.startswith("any") else ("an " if shape[0] in "aeiou" else "a ") + shape
