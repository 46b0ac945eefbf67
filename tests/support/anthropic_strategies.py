"""Hypothesis strategies for the property tests (tests/test_properties.py).

- `anthropic_requests()`: valid Anthropic Messages requests shaped like Claude Code's (REFERENCE §1): system
  blocks with cache_control, alternating turns, thinking/redacted_thinking/tool_use assistant blocks, tool_result
  blocks answering the previous assistant turn's tool_use ids, server tools, thinking options, unknown fields.
- `openai_completions()` and `openai_tool_streams()`: what an OpenAI-compatible provider answers, with the tool-call
  ids real providers send (call_..., numeric strings, bare integers, none at all); `SMALL_ARGUMENTS`, tool-call
  arguments for the stream tests.
- `junk_bodies()`: raw request bytes, nearly all invalid: random bytes and JSON, Claude Code-like requests with
  values of the wrong type, deep nesting, broken UTF-8.

All text avoids lone surrogates: a request body reaches the gateway as UTF-8 JSON, which cannot carry them.
"""

from __future__ import annotations

import itertools
import string
from typing import Any, TypeVar

import orjson
from hypothesis import strategies as st

INT64 = (-(2**63), 2**63 - 1)
EXTRA_PREFIX = "zz_unknown_"  # top-level and in-block fields Anthropic may add tomorrow

_CHARS = st.characters(exclude_categories=("Cs",))
TEXT = st.text(_CHARS, max_size=30)
# Anthropic rejects empty and whitespace-only text blocks.
SOLID_TEXT = st.text(_CHARS, min_size=1, max_size=30).map(lambda s: s if s.strip() else s + "x")
KEYS = st.text(_CHARS, max_size=8)
BASE62 = string.ascii_letters + string.digits

JSON_SCALARS = st.none() | st.booleans() | st.integers(*INT64) | st.floats(allow_nan=False, allow_infinity=False) | TEXT
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=10,
)
JSON_OBJECTS = st.dictionaries(KEYS, JSON_VALUES, max_size=4)

CACHE_CONTROL = st.sampled_from([{"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}])


def _chance(draw: st.DrawFn, p: float) -> bool:
    """True with probability `p`; shrinks to False, so failing examples shrink to plain requests."""
    return draw(st.integers(0, 999)) >= 1000 * (1 - p)


def _maybe(draw: st.DrawFn, key: str, strategy: st.SearchStrategy[Any], into: dict[str, Any], p: float = 0.3) -> None:
    if _chance(draw, p):
        into[key] = draw(strategy)


def _extras(draw: st.DrawFn, into: dict[str, Any]) -> None:
    """Unknown fields: a gateway must drop them for OpenAI and must not choke on them."""
    for name in draw(st.lists(st.text(string.ascii_lowercase, min_size=1, max_size=6), max_size=2, unique=True)):
        into[EXTRA_PREFIX + name] = draw(JSON_VALUES)


# ----------------------------------------------------------------------------------------------------------
# Ids and names

TOOLU_IDS = st.text(BASE62, min_size=22, max_size=24).map(lambda s: "toolu_01" + s)
# Ids that came back from other providers through the gateway in earlier turns.
FOREIGN_IDS = st.one_of(
    st.text(BASE62, min_size=1, max_size=24).map(lambda s: "call_" + s),
    st.integers(0, 10**6).map(str),
    st.integers(0, 9).map(lambda i: f"functions.Bash:{i}"),
)
TOOL_USE_IDS = st.one_of(TOOLU_IDS, TOOLU_IDS, FOREIGN_IDS)

TOOL_NAMES = st.one_of(
    st.sampled_from(["Bash", "Read", "Edit", "Write", "Glob", "Grep", "Task", "TodoWrite", "WebFetch"]),
    st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=20).map(lambda s: "mcp__" + s),
)


# ----------------------------------------------------------------------------------------------------------
# Valid requests


@st.composite
def input_schemas(draw: st.DrawFn) -> dict[str, Any]:
    # Property names may collide with Anthropic-only field names: a schema is passed through as it is.
    names = draw(
        st.lists(
            st.sampled_from(["command", "path", "metadata", "cache_control", "thinking", "system", "x"]) | KEYS,
            max_size=4,
            unique=True,
        )
    )
    kinds = st.sampled_from(["string", "integer", "number", "boolean", "array", "object"])
    properties = {name: {"type": draw(kinds), "description": draw(TEXT)} for name in names}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if names and draw(st.booleans()):
        schema["required"] = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    _maybe(draw, "additionalProperties", st.booleans(), schema)
    _maybe(draw, "$schema", st.just("http://json-schema.org/draft-07/schema#"), schema)
    return schema


SERVER_TOOLS = st.sampled_from(
    [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 8},
        {"type": "web_fetch_20250910", "name": "web_fetch"},
        {"type": "code_execution_20250825", "name": "code_execution"},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
    ]
)


@st.composite
def custom_tools(draw: st.DrawFn, name: str) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": name, "input_schema": draw(input_schemas())}
    _maybe(draw, "description", SOLID_TEXT, tool, 0.8)
    _maybe(draw, "type", st.just("custom"), tool, 0.15)
    _maybe(draw, "cache_control", CACHE_CONTROL, tool, 0.15)
    _maybe(draw, "defer_loading", st.booleans(), tool, 0.15)
    return tool


@st.composite
def image_blocks(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        media = draw(st.sampled_from(["image/png", "image/jpeg", "image/gif", "image/webp"]))
        data = draw(st.text(string.ascii_letters + string.digits + "+/", min_size=4, max_size=40))
        source: dict[str, Any] = {"type": "base64", "media_type": media, "data": data}
    else:
        path = draw(st.text(string.ascii_lowercase, min_size=1, max_size=10))
        source = {"type": "url", "url": f"https://example.com/{path}.png"}
    block: dict[str, Any] = {"type": "image", "source": source}
    _maybe(draw, "cache_control", CACHE_CONTROL, block, 0.1)
    return block


@st.composite
def text_blocks(draw: st.DrawFn) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": draw(SOLID_TEXT)}
    _maybe(draw, "cache_control", CACHE_CONTROL, block, 0.2)
    _maybe(draw, "citations", st.none(), block, 0.05)
    return block


@st.composite
def tool_results(draw: st.DrawFn, tool_use_id: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id}
    shape = draw(st.sampled_from(["string", "blocks", "none"]))
    if shape == "string":
        block["content"] = draw(TEXT)
    elif shape == "blocks":
        block["content"] = draw(st.lists(text_blocks() | image_blocks(), max_size=3))
    _maybe(draw, "is_error", st.booleans(), block)
    _maybe(draw, "cache_control", CACHE_CONTROL, block, 0.2)
    return block


@st.composite
def user_turns(draw: st.DrawFn, answer_ids: list[str]) -> dict[str, Any]:
    """A user message; it starts with a tool_result for each of `answer_ids` (in any order), as the API requires."""
    if not answer_ids and _chance(draw, 0.3):
        return {"role": "user", "content": draw(SOLID_TEXT)}
    order = draw(st.permutations(answer_ids))
    content: list[dict[str, Any]] = [draw(tool_results(tool_use_id)) for tool_use_id in order]
    minimum = 0 if answer_ids else 1
    content += draw(st.lists(text_blocks() | text_blocks() | image_blocks(), min_size=minimum, max_size=3))
    return {"role": "user", "content": content}


@st.composite
def assistant_turns(draw: st.DrawFn, tool_names: list[str], used_ids: set[str], allow_tools: bool) -> dict[str, Any]:
    """An assistant message; its tool_use ids are added to `used_ids` (unique in the conversation)."""
    if _chance(draw, 0.15):
        return {"role": "assistant", "content": draw(SOLID_TEXT)}
    content: list[dict[str, Any]] = []
    if _chance(draw, 0.4):
        block: dict[str, Any] = {
            "type": "thinking",
            "thinking": draw(TEXT),  # empty with thinking display "omitted"
            "signature": draw(st.text(BASE62 + "+/=", min_size=1, max_size=40)),
        }
        content.append(block)
    if _chance(draw, 0.1):
        content.append({"type": "redacted_thinking", "data": draw(st.text(BASE62, min_size=1, max_size=30))})
    if _chance(draw, 0.6):
        content.append(draw(text_blocks()))
    calls = draw(st.integers(0, 3)) if allow_tools else 0
    for _ in range(calls):
        tool_id = draw(TOOL_USE_IDS)
        while tool_id in used_ids:
            tool_id += draw(st.sampled_from(BASE62))
        used_ids.add(tool_id)
        name = draw(st.sampled_from(tool_names)) if tool_names and draw(st.booleans()) else draw(TOOL_NAMES)
        tool_use: dict[str, Any] = {"type": "tool_use", "id": tool_id, "name": name, "input": draw(JSON_OBJECTS)}
        _maybe(draw, "cache_control", CACHE_CONTROL, tool_use, 0.1)
        content.append(tool_use)
    if not content:
        content.append(draw(text_blocks()))
    for block in content:
        if _chance(draw, 0.03):
            block[EXTRA_PREFIX + "field"] = draw(JSON_SCALARS)
    return {"role": "assistant", "content": content}


def tool_use_ids_of(message: dict[str, Any]) -> list[str]:
    content = message.get("content")
    if message.get("role") != "assistant" or not isinstance(content, list):
        return []
    return [block["id"] for block in content if block.get("type") == "tool_use"]


@st.composite
def system_prompts(draw: st.DrawFn) -> str | list[dict[str, Any]]:
    if _chance(draw, 0.3):
        return draw(SOLID_TEXT)
    return draw(st.lists(text_blocks(), min_size=1, max_size=3))


@st.composite
def conversations(draw: st.DrawFn, tool_names: list[str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if _chance(draw, 0.1):  # Claude Code sends role:"system" messages too
        messages.append({"role": "system", "content": draw(SOLID_TEXT | st.lists(text_blocks(), max_size=2))})
    used: set[str] = set()
    messages.append(draw(user_turns([])))
    for _ in range(draw(st.integers(0, 4))):
        if _chance(draw, 0.05):  # a system message between a user turn and the assistant's answer
            messages.append({"role": "system", "content": draw(SOLID_TEXT)})
        assistant = draw(assistant_turns(tool_names, used, allow_tools=True))
        messages.append(assistant)
        messages.append(draw(user_turns(tool_use_ids_of(assistant))))
    if _chance(draw, 0.05):  # an assistant prefill ends the conversation
        messages.append(draw(assistant_turns(tool_names, used, allow_tools=False)))
    return messages


def _add_thinking(draw: st.DrawFn, body: dict[str, Any]) -> None:
    """thinking enabled with a budget below max_tokens, adaptive (+ output_config.effort), disabled, or none."""
    kind = draw(st.sampled_from(["none", "enabled", "adaptive", "disabled"]))
    if kind == "enabled":
        body["max_tokens"] = max(body["max_tokens"], 1025)
        budget = draw(st.integers(1024, body["max_tokens"] - 1))
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    elif kind == "adaptive":
        body["thinking"] = {"type": "adaptive"}
        _maybe(draw, "display", st.sampled_from(["omitted", "updates"]), body["thinking"], 0.5)
        if draw(st.booleans()):
            effort = draw(st.sampled_from(["low", "medium", "high", "max", "xhigh"]))
            body["output_config"] = {"effort": effort}
    elif kind == "disabled":
        body["thinking"] = {"type": "disabled"}
    if _chance(draw, 0.1):
        schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
        body.setdefault("output_config", {})["format"] = {"type": "json_schema", "schema": schema}


@st.composite
def anthropic_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A valid Anthropic Messages request body as Claude Code sends it."""
    names = draw(st.lists(TOOL_NAMES, max_size=4, unique=True))
    tools: list[dict[str, Any]] = [draw(custom_tools(name)) for name in names]
    if _chance(draw, 0.25):
        server = draw(SERVER_TOOLS)
        if server["name"] not in names:
            tools.insert(draw(st.integers(0, len(tools))), dict(server))
    model = draw(st.sampled_from(["claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5", "some-model"]))
    body: dict[str, Any] = {"model": model, "max_tokens": draw(st.integers(1, 128000))}
    body["messages"] = draw(conversations(names))
    _maybe(draw, "system", system_prompts(), body, 0.7)
    if tools or _chance(draw, 0.1):
        body["tools"] = tools
    choices = [{"type": "auto"}, {"type": "any"}, {"type": "none"}] + [{"type": "tool", "name": n} for n in names]
    if _chance(draw, 0.4):
        choice = dict(draw(st.sampled_from(choices)))
        _maybe(draw, "disable_parallel_tool_use", st.booleans(), choice)
        body["tool_choice"] = choice
    _add_thinking(draw, body)
    _maybe(draw, "temperature", st.floats(0, 1), body, 0.2)
    _maybe(draw, "top_p", st.floats(0, 1), body, 0.1)
    _maybe(draw, "top_k", st.integers(1, 500), body, 0.1)
    _maybe(draw, "stop_sequences", st.lists(SOLID_TEXT, max_size=4), body, 0.15)
    session = draw(st.uuids()).hex
    user_id = orjson.dumps({"device_id": "d" * 8, "account_uuid": "", "session_id": session}).decode()
    _maybe(draw, "metadata", st.just({"user_id": user_id}), body, 0.5)
    _maybe(draw, "stream", st.booleans(), body, 0.7)
    _maybe(draw, "context_management", st.just({"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}), body)
    _maybe(draw, "service_tier", st.just("auto"), body, 0.05)
    _extras(draw, body)
    return body


# ----------------------------------------------------------------------------------------------------------
# Provider answers

# Small argument objects for the stream tests' tool calls: short keys, small JSON values.
SMALL_ARGUMENTS = st.dictionaries(
    st.text("abcxyz_", min_size=1, max_size=5),
    st.one_of(st.integers(-5, 5), st.text(max_size=6), st.lists(st.integers(0, 3), max_size=3)),
    max_size=3,
)

# Ids providers send for tool calls: OpenAI's call_..., numeric strings and bare numbers (OpenRouter, local
# servers), Kimi's functions.NAME:N, and none at all (some local servers).
PROVIDER_IDS = st.one_of(
    st.text(BASE62, min_size=1, max_size=24).map(lambda s: "call_" + s),
    st.integers(0, 10**9).map(str),
    st.integers(0, 10**9),
    st.integers(0, 9).map(lambda i: f"functions.Read:{i}"),
    st.text(BASE62 + "-_.:", min_size=1, max_size=30),
)
MISSING_IDS = st.sampled_from([None, ""])


def usable(provider_id: Any) -> bool:
    """Whether a provider's tool-call id can serve as the Anthropic id: a non-empty string or an integer."""
    return (isinstance(provider_id, str) and provider_id != "") or (
        isinstance(provider_id, int) and not isinstance(provider_id, bool)
    )


@st.composite
def provider_call_ids(draw: st.DrawFn, count: int, unique: bool) -> list[Any]:
    """`count` tool-call ids; `unique` keeps every usable one distinct (as text) within the reply."""
    ids: list[Any] = []
    seen: set[str] = set()
    for _ in range(count):
        if _chance(draw, 0.15):
            ids.append(draw(MISSING_IDS))
            continue
        if not unique and seen and _chance(draw, 0.3):
            ids.append(draw(st.sampled_from(sorted(seen))))
            continue
        value = draw(PROVIDER_IDS)
        while unique and str(value) in seen:
            value = str(value) + draw(st.sampled_from(BASE62))
        seen.add(str(value))
        ids.append(value)
    return ids


@st.composite
def tool_calls(draw: st.DrawFn, unique_ids: bool = True) -> list[dict[str, Any]]:
    """Parallel tool calls: [{id, name, args}] with args a JSON object."""
    count = draw(st.integers(0, 4))
    ids = draw(provider_call_ids(count, unique_ids))
    return [{"id": ids[i], "name": draw(TOOL_NAMES), "args": draw(JSON_OBJECTS)} for i in range(count)]


@st.composite
def openai_completions(draw: st.DrawFn, unique_ids: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A chat completion and the calls it holds."""
    calls = draw(tool_calls(unique_ids))
    message: dict[str, Any] = {"role": "assistant", "content": draw(st.none() | TEXT)}
    if calls:
        message["tool_calls"] = []
        for call in calls:
            entry: dict[str, Any] = {
                "type": "function",
                "function": {"name": call["name"], "arguments": orjson.dumps(call["args"]).decode()},
            }
            if call["id"] is not None:
                entry["id"] = call["id"]
            message["tool_calls"].append(entry)
    _maybe(draw, "reasoning_content", TEXT, message)
    finish = "tool_calls" if calls and _chance(draw, 0.8) else draw(st.sampled_from(["stop", "length"]))
    completion = {
        "id": "chatcmpl-" + draw(st.text(BASE62, min_size=1, max_size=10)),
        "object": "chat.completion",
        "created": 1700000000,
        "model": "provider-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37},
    }
    return completion, calls


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "provider-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


Cuttable = TypeVar("Cuttable", str, bytes)


def _pieces(draw: st.DrawFn, whole: Cuttable, most_cuts: int) -> list[Cuttable]:
    """`whole` cut at up to `most_cuts` random places (none when it is shorter than 2)."""
    if len(whole) < 2:
        return [whole]
    cuts = draw(st.lists(st.integers(1, len(whole) - 1), max_size=most_cuts, unique=True))
    bounds = [0, *sorted(cuts), len(whole)]
    return [whole[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def openai_tool_streams(draw: st.DrawFn, unique_ids: bool = True) -> dict[str, Any]:
    """A streamed answer: optional reasoning and text, then parallel tool calls whose argument fragments
    interleave by `index`; returns {"chunks": [...], "calls": [...], "reasoning": str, "text": str}."""
    calls = draw(tool_calls(unique_ids))
    chunks: list[dict[str, Any]] = [_chunk({"role": "assistant", "content": ""})]
    reasoning = "".join(draw(st.lists(st.text(_CHARS, min_size=1, max_size=8), max_size=3)))
    for piece in _pieces(draw, reasoning, 6) if reasoning else ():
        chunks.append(_chunk({"reasoning_content": piece}))
    text = "".join(draw(st.lists(st.text(_CHARS, min_size=1, max_size=8), max_size=3)))
    for piece in _pieces(draw, text, 6) if text else ():
        chunks.append(_chunk({"content": piece}))
    repeat_ids = _chance(draw, 0.2)  # some servers repeat the id on every fragment
    queues: list[list[dict[str, Any]]] = []
    for index, call in enumerate(calls):
        encoded = " " * draw(st.integers(0, 1)) + orjson.dumps(call["args"]).decode() + " " * draw(st.integers(0, 1))
        parts = _pieces(draw, encoded, 6)
        first: dict[str, Any] = {"index": index, "type": "function", "function": {"name": call["name"]}}
        if call["id"] is not None:
            first["id"] = call["id"]
        if draw(st.booleans()):
            first["function"]["arguments"] = parts.pop(0)
        else:
            first["function"]["arguments"] = ""
        queue = [first]
        for part in parts:
            fragment: dict[str, Any] = {"index": index, "function": {"arguments": part}}
            if repeat_ids and call["id"] is not None:
                fragment["id"] = call["id"]
            queue.append(fragment)
        queues.append(queue)
    opened = 0  # calls start in index order, as providers do; their fragments then interleave
    while any(queues):
        live = [i for i in range(opened) if queues[i]]
        if opened < len(queues) and (not live or draw(st.booleans())):
            live = [opened]
            opened += 1
        pick = draw(st.sampled_from(live))
        chunks.append(_chunk({"tool_calls": [queues[pick].pop(0)]}))
    chunks.append(_chunk({}, "tool_calls" if calls else "stop"))
    usage = {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49}
    chunks.append({**_chunk({}), "choices": [], "usage": usage})
    return {"chunks": chunks, "calls": calls, "reasoning": reasoning, "text": text}


@st.composite
def byte_splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut at random places (also inside UTF-8 sequences and SSE framing)."""
    return _pieces(draw, data, 12)


# ----------------------------------------------------------------------------------------------------------
# Junk request bodies


def _base_request() -> dict[str, Any]:
    return {
        "model": "claude-sonnet-5-5",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "list files"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "text", "text": "Running ls."},
                    {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "ls"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01A", "content": [{"type": "text", "text": "a b"}]},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                    },
                ],
            },
        ],
        "tools": [
            {
                "name": "Bash",
                "description": "Run a command",
                "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
            },
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "metadata": {"user_id": '{"session_id": "s-1"}'},
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "stream": False,
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in a JSON value (dict keys and list indices), the value itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _delete(value: Any, path: tuple[Any, ...]) -> Any:
    head, rest = path[0], path[1:]
    if rest:
        if isinstance(value, dict):
            return {**value, head: _delete(value[head], rest)}
        copy = list(value)
        copy[head] = _delete(copy[head], rest)
        return copy
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != head}
    return [item for i, item in enumerate(value) if i != head]


WRONG_VALUES = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 1.5, -(2**63), 2**64 - 1, "", "x", "true", [], {}, [None], {"": None}]),
    JSON_VALUES,
)


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    """A Claude Code-like request with one place replaced by a value of another shape, or removed."""
    body: Any = _base_request()
    if draw(st.booleans()):
        body["stream"] = True
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(body)))
        delete = bool(path) and _chance(draw, 0.2)
        body = _delete(body, path) if delete else _replace(body, path, draw(WRONG_VALUES))
    return orjson.dumps(body)


# Targeted wrong types from the issue, each on top of the base request.
TARGETED = [
    ("model", 5),
    ("model", ""),
    ("model", None),
    ("messages", {"role": "user", "content": "hi"}),
    ("messages", []),
    ("messages", "hi"),
    ("max_tokens", "100"),
    ("max_tokens", 100.5),
    ("max_tokens", -1),
    ("max_tokens", 0),
    ("max_tokens", True),
    ("max_tokens", 2**64 - 1),
    ("stream", "true"),
    ("stream", 1),
    ("stream", None),
    ("tools", {"name": "Bash"}),
    ("tools", "Bash"),
    ("tools", [1, "x", None, {"name": 5}, {"name": "y", "input_schema": "s"}, {"type": 7}]),
    ("tool_choice", "auto"),
    ("tool_choice", {"type": "tool"}),
    ("tool_choice", {"type": "tool", "name": 3}),
    ("tool_choice", {"type": ["any"]}),
    ("tool_choice", 42),
    ("system", 7),
    ("system", {"text": "x"}),
    ("system", [1, {"type": "text", "text": 5}, {"type": "text"}]),
    ("thinking", "on"),
    ("thinking", {"type": "enabled", "budget_tokens": "big"}),
    ("thinking", {"type": {"x": 1}}),
    ("output_config", {"effort": 3}),
    ("thinking", {"type": "adaptive"}),
    ("metadata", "user"),
    ("metadata", {"user_id": {"session_id": "s"}}),
    ("metadata", {"user_id": "{not json"}),
    ("metadata", {"user_id": '{"session_id": 5}'}),
    ("stop_sequences", "END"),
    ("stop_sequences", [1, None]),
    ("temperature", "hot"),
    ("top_p", [0.5]),
]

CONTENT_JUNK = [
    5,
    None,
    {"type": "text", "text": "x"},
    [1, "x", None, []],
    [{"type": "text", "text": 5}],
    [{"type": "text"}],
    [{"type": "image", "source": "http://x"}],
    [{"type": "image", "source": {"type": "base64", "data": 5, "media_type": None}}],
    [{"type": "image", "source": {"type": "url", "url": 5}}],
    [{"type": "tool_use", "id": 5, "name": 5, "input": [1]}],
    [{"type": "tool_use", "id": None, "name": None, "input": "x"}],
    [{"type": "tool_result", "tool_use_id": None, "content": 5, "is_error": "yes"}],
    [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": None}, 5]}],
    [{"type": "tool_result", "tool_use_id": "t", "content": {"type": "text", "text": "x"}}],
    [{"type": "thinking", "thinking": 5, "signature": []}],
    [{"type": "document", "source": {"type": "base64", "data": 5}, "title": 7}],
    [{"type": "document", "source": {"type": "text", "data": None}}],
    [{"type": 5}, {"type": None}, {}],
]


@st.composite
def targeted_requests(draw: st.DrawFn) -> bytes:
    body = _base_request()
    if draw(st.booleans()):
        body["stream"] = True
    if draw(st.booleans()):
        key, value = draw(st.sampled_from(TARGETED))
        body[key] = value
    else:
        index = draw(st.integers(0, len(body["messages"]) - 1))
        body["messages"][index] = {**body["messages"][index], "content": draw(st.sampled_from(CONTENT_JUNK))}
        if draw(st.booleans()):
            body["messages"][index]["role"] = draw(st.sampled_from(["user", "assistant", "system", "tool", 5, None]))
    return orjson.dumps(body)


def _nest(depth: int, leaf: Any, kind: str) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


NESTING_DEPTHS = st.sampled_from([200, 254, 255, 256, 300, 600, 1000, 1022, 1023, 1100, 5000])


@st.composite
def deep_requests(draw: st.DrawFn) -> bytes:
    """Deep nesting: as the whole body (raw text, beyond any parser's limit) or at one place of a request."""
    depth = draw(NESTING_DEPTHS)
    kind = draw(st.sampled_from(["list", "dict"]))
    where = draw(
        st.sampled_from(
            ["raw", "tool_input", "schema", "stop_sequences", "metadata", "extra", "content", "system", "tool_choice"]
        )
    )
    if where == "raw":
        opener, closer = (b"[", b"]") if kind == "list" else (b'{"a":', b"}")
        return opener * depth + b"1" + closer * depth
    body = _base_request()
    deep = _nest(depth, "x", kind)
    if where == "tool_input":
        body["messages"][1]["content"][2]["input"] = {"command": deep}
    elif where == "schema":
        body["tools"][0]["input_schema"]["properties"]["command"] = deep
    elif where == "stop_sequences":
        body["stop_sequences"] = [deep]
    elif where == "metadata":
        body["metadata"] = {"user_id": "u", "deep": deep}
    elif where == "extra":
        body[EXTRA_PREFIX + "deep"] = deep
    elif where == "content":
        body["messages"][0]["content"] = [{"type": "text", "text": "x", "extra": deep}, deep]
    elif where == "system":
        body["system"] = [{"type": "text", "text": "x"}, deep]
    else:
        body["tool_choice"] = {"type": "auto", "deep": deep}
    try:
        return orjson.dumps(body)
    except TypeError:  # deeper than orjson writes: build the text by hand
        marker = "@@DEEP@@"
        text = orjson.dumps(_replace_marker(body, deep, marker)).decode()
        opener, closer = ("[", "]") if kind == "list" else ('{"a":', "}")
        return text.replace(f'"{marker}"', opener * depth + '"x"' + closer * depth).encode()


def _replace_marker(value: Any, target: Any, marker: str) -> Any:
    if value is target:
        return marker
    if isinstance(value, dict):
        return {k: _replace_marker(v, target, marker) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_marker(v, target, marker) for v in value]
    return value


@st.composite
def broken_utf8(draw: st.DrawFn) -> bytes:
    raw = orjson.dumps(_base_request())
    bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82", b"\x80", b"\xf8\x88\x80\x80\x80"]))
    position = raw.index(b"list files") + draw(st.integers(0, 10))
    return raw[:position] + bad + raw[position:]


LITERAL_JUNK = st.sampled_from(
    [
        b"",
        b" ",
        b"null",
        b"[]",
        b"{}",
        b"0",
        b'"x"',
        b"{",
        b'{"model": "m", "messages": [}',
        b"\x00\x00",
        b"\xef\xbb\xbf{}",  # a byte-order mark
        b'{"model": NaN}',
        b'{"model": "m", "max_tokens": 1e400, "messages": []}',
        b'{"model": "m", "max_tokens": 18446744073709551616, "messages": []}',
        b'{"model": "m", "model": 5, "messages": []}',
        b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}',  # an escaped lone surrogate
    ]
)


def junk_bodies() -> st.SearchStrategy[bytes]:
    return st.one_of(
        LITERAL_JUNK,
        st.binary(max_size=64),
        JSON_VALUES.map(orjson.dumps),
        mutated_requests(),
        mutated_requests(),
        targeted_requests(),
        targeted_requests(),
        deep_requests(),
        broken_utf8(),
    )
