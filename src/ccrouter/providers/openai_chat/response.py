"""OpenAI chat completion (non-streaming) -> Anthropic message, and the mappings the stream shares."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from ccrouter.providers.base import SYNTHETIC_THINKING_SIGNATURE, Usage, new_id
from ccrouter.tokens import count_output

"""The signature on thinking blocks made from a provider's reasoning text. Anthropic needs a non-empty one; it
is not a real Anthropic signature, so an Anthropic upstream must not be sent these blocks back."""

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def stop_reason(finish_reason: Any, has_tool_calls: bool) -> str:
    """OpenAI `finish_reason` -> Anthropic `stop_reason`; tool calls win over a plain `stop`."""
    if has_tool_calls and finish_reason in (None, "stop", "tool_calls", "function_call"):
        return "tool_use"
    return STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"


class UsageFields(NamedTuple):
    """Where an OpenAI API's `usage` object keeps each count (chat completions and Responses name them apart)."""

    input: str  # every input token, cache reads and writes included
    output: str
    input_details: str  # an object with `cached_tokens` and (some servers) `cache_write_tokens`
    cache_hits: str | None  # a count of cache reads beside the details (DeepSeek)


CHAT_USAGE = UsageFields("prompt_tokens", "completion_tokens", "prompt_tokens_details", "prompt_cache_hit_tokens")


def read_usage(source: Any, usage: Usage, fields: UsageFields = CHAT_USAGE) -> bool:
    """Copy an OpenAI `usage` object into `usage`; Anthropic's input_tokens excludes cache reads and writes.

    Returns whether `source` held usage at all.
    """
    if not isinstance(source, dict):
        return False
    usage.output_tokens = _int(source.get(fields.output))
    total = source.get(fields.input)
    if not isinstance(total, int) or isinstance(total, bool):
        return True  # no input count: keep the estimate
    details = source.get(fields.input_details)
    cached = written = 0
    if isinstance(details, dict):
        cached = _int(details.get("cached_tokens"))
        written = _int(details.get("cache_write_tokens"))
    if not cached and fields.cache_hits:
        cached = _int(source.get(fields.cache_hits))
    usage.input_tokens = max(total - cached - written, 0)
    usage.cache_read_input_tokens = cached
    usage.cache_creation_input_tokens = written
    return True


def message_id(provider_id: Any, make_id: Callable[[], str]) -> str:
    if isinstance(provider_id, str) and provider_id:
        return provider_id if provider_id.startswith("msg_") else "msg_" + provider_id
    return "msg_" + make_id()


def tool_id(provider_id: Any, make_id: Callable[[], str]) -> str:
    """The provider's tool-call id as a string (numeric ids occur), or a fresh `toolu_` id."""
    if isinstance(provider_id, str) and provider_id:
        return provider_id
    if isinstance(provider_id, int) and not isinstance(provider_id, bool):
        return str(provider_id)
    return "toolu_" + make_id()


def unique_tool_id(call_id: str, used: set[str]) -> str:
    """`call_id`, or `call_id_2`, `_3`, ... if this message already has a tool_use with that id (some providers
    repeat ids across parallel calls, and Anthropic, like Claude Code, pairs each tool_result with one call)."""
    unique, n = call_id, 1
    while unique in used:
        n += 1
        unique = f"{call_id}_{n}"
    used.add(unique)
    return unique


def reasoning_text(message: dict[str, Any]) -> str:
    """Reasoning from a message or a stream delta: `reasoning_content` (DeepSeek), `reasoning` or
    `reasoning_details` (OpenRouter)."""
    text = message.get("reasoning_content")
    if isinstance(text, str) and text:
        return text
    text = message.get("reasoning")
    if isinstance(text, str) and text:
        return text
    details = message.get("reasoning_details")
    if not isinstance(details, list):
        return ""
    parts: list[str] = []
    for item in details:
        if isinstance(item, dict):
            value = item.get("text") or item.get("summary")
            if isinstance(value, str):
                parts.append(value)
    return "".join(parts)


def completion_to_message(
    completion: dict[str, Any],
    model: str,
    input_tokens: int = 0,
    make_id: Callable[[], str] = new_id,
) -> dict[str, Any]:
    """An OpenAI chat completion -> an Anthropic message dict. `input_tokens` is used when it has no usage."""
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    content: list[dict[str, Any]] = []
    thinking = reasoning_text(message)
    if thinking:
        content.append({"type": "thinking", "thinking": thinking, "signature": SYNTHETIC_THINKING_SIGNATURE})
    text = _content_text(message.get("content")) or _str(message.get("refusal"))
    if text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    used: set[str] = set()
    for call in calls if isinstance(calls, list) else ():
        if isinstance(call, dict):
            block = _tool_use(call, make_id)
            block["id"] = unique_tool_id(block["id"], used)
            content.append(block)
    has_calls = any(block["type"] == "tool_use" for block in content)
    usage = Usage(input_tokens=input_tokens)
    if not read_usage(completion.get("usage"), usage):  # no usage reported: count what came back
        usage.output_tokens = count_output(
            [thinking, text], (orjson.dumps(b["input"]).decode() for b in content if b["type"] == "tool_use")
        )
    return {
        "id": message_id(completion.get("id"), make_id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason"), has_calls),
        "stop_sequence": None,
        "usage": usage.as_dict(),
    }


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments (a JSON string) -> the tool_use input; unparsable text is kept under `_raw`."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        try:  # raw control characters inside strings (grammar-constrained local servers emit them)
            value = json.loads(arguments, strict=False)
        except ValueError:
            return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


def _tool_use(call: dict[str, Any], make_id: Callable[[], str]) -> dict[str, Any]:
    function = call.get("function")
    if not isinstance(function, dict):
        function = {}
    return {
        "type": "tool_use",
        "id": tool_id(call.get("id"), make_id),
        "name": _str(function.get("name")),
        "input": parse_arguments(function.get("arguments")),
    }


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers answer with a list of parts
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        )
    return ""


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
