"""Fixture cases for the Gemini translation tests, and a reviewer-driven way to update them.

Each folder under tests/fixtures/gemini/ is one case, recognised by its input file:

- `anthropic_request.json` -> `expected_gemini_request.json` (optional `options.json`: {"model": "gemini-3-..."})
- `gemini_response.json` -> `expected_anthropic.json`
- `gemini_stream.jsonl` (one GenerateContentResponse chunk per line, sent as `data:` lines) or `stream.sse` (raw
  bytes) -> `expected_events.jsonl` (one `{"event", "data"}` per line), `expected_state.json` (usage,
  stop_reason) and `expected_sdk_message.json` (what the official anthropic SDK's `messages.stream` makes of it)

Run `python -m tests.support.gemini_cases` (from the repository root) to see what the code produces now: for every
expected file that is missing or differs it writes `<expected>.new` beside it and never touches the expected file
itself. Review the `.new` file, then rename it over the expected one by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ccrouter.providers.gemini.request import build_gemini_request
from ccrouter.providers.gemini.response import response_to_message
from ccrouter.providers.gemini.stream import GeminiStreamState, GeminiStreamTranslator
from tests.support.fixture_cases import (
    INPUT_TOKENS,
    cases_in,
    counter_ids,
    feed_all,
    read_json,
    read_options,
    reads_of_events,
    stream_files,
    stream_of_chunks,
    translated_files,
    write_proposals,
)
from tests.support.paths import FIXTURES_DIR

FIXTURES = FIXTURES_DIR / "gemini"
MODEL = "gemini-2.5-pro"


def cases(input_name: str) -> list[Path]:
    return cases_in(FIXTURES, input_name)


def translate_request(case: Path) -> dict[str, Any]:
    return build_gemini_request(read_json(case / "anthropic_request.json"), read_options(case).get("model", MODEL))


def translate_response(case: Path) -> dict[str, Any]:
    return response_to_message(read_json(case / "gemini_response.json"), MODEL, INPUT_TOKENS, counter_ids())


def stream_bytes(case: Path) -> bytes:
    """The provider's stream as it comes over the wire (Gemini ends its events with CRLF)."""
    return stream_of_chunks(case, "gemini_stream.jsonl", b"\r\n\r\n")


def stream_reads(case: Path) -> list[bytes]:
    """The provider's stream as separate reads, one SSE event each (as Gemini paces its chunks)."""
    return reads_of_events(stream_bytes(case))


def run_stream(pieces: Iterable[bytes]) -> tuple[bytes, GeminiStreamTranslator]:
    """Feed the pieces to a fresh translator, then finish it; returns the Anthropic SSE bytes."""
    translator = GeminiStreamTranslator(GeminiStreamState(MODEL, INPUT_TOKENS, make_id=counter_ids()))
    return feed_all(translator, pieces), translator


def produced(case: Path) -> dict[str, bytes]:
    """Expected file name -> the bytes the code produces now, for every input the case has."""
    files = translated_files(
        case,
        {
            "anthropic_request.json": ("expected_gemini_request.json", translate_request),
            "gemini_response.json": ("expected_anthropic.json", translate_response),
        },
    )
    if (case / "stream.sse").exists() or (case / "gemini_stream.jsonl").exists():
        out, translator = run_stream(stream_reads(case))
        files.update(stream_files(out, translator, sdk_sse=run_stream([stream_bytes(case)])[0]))
    return files


if __name__ == "__main__":
    sys.exit(write_proposals(FIXTURES, produced))


# ----------------------------------------------------------------------------------------------------------
# What Gemini accepts, as checks the tests share

SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
SCHEMA_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
FORMATS = {"string": {"enum", "date-time"}, "number": {"float", "double"}, "integer": {"int32", "int64"}}


def schema_problems(node: Any, path: str = "parameters") -> list[str]:
    """Why Gemini's OpenAPI `Schema` would reject `node` (empty when it would not), by the rules its 400s state."""
    if not isinstance(node, dict):
        return [f"{path}: not an object"]
    problems = [f"{path}.{key}: unknown field" for key in node if key not in SCHEMA_KEYS]
    kind = node.get("type")
    if "anyOf" in node:
        branches = node["anyOf"]
        if kind is not None:
            problems.append(f"{path}: type and anyOf together")
        if not isinstance(branches, list) or not branches:
            return [*problems, f"{path}.anyOf: must be a non-empty list"]
        if "default" in node:
            problems.append(f"{path}: default beside anyOf")
        for i, branch in enumerate(branches):
            problems += schema_problems(branch, f"{path}.anyOf[{i}]")
        kind = None
    elif kind not in SCHEMA_TYPES:
        problems.append(f"{path}.type: must be specified (got {kind!r})")
    if "properties" in node:
        properties = node["properties"]
        if kind != "object":
            problems.append(f"{path}.properties: only allowed for OBJECT type")
        elif not isinstance(properties, dict) or not properties:
            problems.append(f"{path}.properties: should be non-empty for OBJECT type")
        else:
            for name, child in properties.items():
                problems += schema_problems(child, f"{path}.properties[{name}]")
    if "required" in node:
        names = node["required"]
        if kind != "object":
            problems.append(f"{path}.required: only allowed for OBJECT type")
        elif not isinstance(names, list) or any(n not in (node.get("properties") or {}) for n in names):
            problems.append(f"{path}.required: names a property that is not defined")
    if kind == "array":
        if "items" not in node:
            problems.append(f"{path}.items: missing field")
        else:
            problems += schema_problems(node["items"], f"{path}.items")
    elif "items" in node:
        problems.append(f"{path}.items: only allowed for ARRAY type")
    if "enum" in node and (kind != "string" or not all(isinstance(v, str) for v in node["enum"])):
        problems.append(f"{path}.enum: only string values on a STRING type")
    if "format" in node and node["format"] not in FORMATS.get(str(kind), set()):
        problems.append(f"{path}.format: {node['format']!r} is not supported for {kind}")
    return problems


ANTHROPIC_ONLY = frozenset(
    {
        "cache_control",
        "defer_loading",
        "metadata",
        "context_management",
        "output_config",
        "safeguards",
        "service_tier",
        "container",
        "thinking",
        "system",
        "stop_sequences",
        "input_schema",
        "tool_use_id",
        "max_tokens",
        "$schema",
        "additionalProperties",
    }
)


def keys_outside_schemas(value: Any) -> set[str]:
    """Every object key in `value`, but for the names of a schema's properties (a tool may call one `metadata`)
    and a function call's arguments (the tool's own)."""
    if isinstance(value, dict):
        found: set[str] = set()
        for key, item in value.items():
            found.add(key)
            if key == "properties" and isinstance(item, dict):
                found |= {k for schema in item.values() for k in keys_outside_schemas(schema)}
            elif key != "args":
                found |= keys_outside_schemas(item)
        return found
    if isinstance(value, list):
        return {k for v in value for k in keys_outside_schemas(v)}
    return set()


PART_KEYS = frozenset(
    {"text", "thought", "thoughtSignature", "functionCall", "functionResponse", "inlineData", "fileData"}
)
REQUEST_KEYS = frozenset({"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"})
GENERATION_KEYS = frozenset(
    {
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "stopSequences",
        "thinkingConfig",
        "responseMimeType",
        "responseSchema",
    }
)


def request_problems(request: dict[str, Any]) -> list[str]:
    """Why Gemini would reject a GenerateContentRequest body's shape (empty when it would not)."""
    problems = [f"{key}: unknown field" for key in request if key not in REQUEST_KEYS]
    contents = request.get("contents")
    if not isinstance(contents, list):
        return [*problems, "contents: missing"]
    for i, content in enumerate(contents):
        if content.get("role") not in ("user", "model") or not content.get("parts"):
            problems.append(f"contents[{i}]: needs a role and parts")
        if i and content.get("role") == contents[i - 1].get("role"):
            problems.append(f"contents[{i}]: same role as the turn before")
        for j, part in enumerate(content.get("parts") or ()):
            problems += [f"contents[{i}].parts[{j}].{key}: unknown field" for key in part if key not in PART_KEYS]
    for tool in request.get("tools") or ():
        for declaration in tool.get("functionDeclarations") or ():
            if "parameters" in declaration:
                problems += schema_problems(declaration["parameters"], f"{declaration['name']}.parameters")
    if "toolConfig" in request and not any("functionDeclarations" in t for t in request.get("tools") or ()):
        problems.append("toolConfig: without function declarations")
    generation = request.get("generationConfig") or {}
    problems += [f"generationConfig.{key}: unknown field" for key in generation if key not in GENERATION_KEYS]
    thinking = generation.get("thinkingConfig") or {}
    if "thinkingBudget" in thinking and "thinkingLevel" in thinking:
        problems.append("thinkingConfig: thinkingBudget and thinkingLevel together")
    return problems
