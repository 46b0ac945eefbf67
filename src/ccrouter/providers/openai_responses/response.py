"""OpenAI Responses object (non-streaming) -> Anthropic message, and the mappings the stream and request share.

Reasoning round-trips through the thinking block's `signature`: `ccrouter-openai-responses:<item id>:<encrypted
content>`. The next request turns such a block back into the provider's `reasoning` item (the Responses API is
used statelessly, `store: false`, so the encrypted content is the only way the model sees its earlier reasoning).
Every signature ccrouter makes starts with `ccrouter-`, which the Anthropic adapter drops as not its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ccrouter.providers.base import Usage, new_id
from ccrouter.providers.openai_chat.response import UsageFields, message_id, parse_arguments, tool_id
from ccrouter.providers.openai_chat.response import read_usage as read_openai_usage

SIGNATURE_PREFIX = "ccrouter-openai-responses"
RESPONSES_USAGE = UsageFields("input_tokens", "output_tokens", "input_tokens_details", None)

# Responses error codes -> Anthropic error types; codes not listed are api_error, or invalid_request_error when
# they name a problem with the request itself (invalid_*, image_*, ...).
_ERROR_TYPES = {
    "rate_limit_exceeded": "rate_limit_error",
    "insufficient_quota": "rate_limit_error",
    "server_error": "api_error",
    "server_is_overloaded": "overloaded_error",
    "vector_store_timeout": "api_error",
}
_REQUEST_PROBLEMS = ("invalid", "image", "unsupported", "empty", "failed_to_download", "context_length")


def reasoning_signature(item_id: str, encrypted_content: str) -> str:
    """The thinking-block signature that carries a reasoning item to the next request (the bare prefix when the
    provider sent no encrypted content: such a block is shown to the client but never sent back)."""
    if not encrypted_content:
        return SIGNATURE_PREFIX
    return f"{SIGNATURE_PREFIX}:{item_id}:{encrypted_content}"


def reasoning_of_signature(signature: Any) -> tuple[str, str] | None:
    """`(item id, encrypted content)` from a signature `reasoning_signature` made, else None (another provider's,
    Anthropic's own, or one without encrypted content)."""
    if not isinstance(signature, str) or not signature.startswith(SIGNATURE_PREFIX + ":"):
        return None
    item_id, sep, encrypted = signature[len(SIGNATURE_PREFIX) + 1 :].partition(":")
    return (item_id, encrypted) if sep and encrypted else None


def read_usage(source: Any, usage: Usage) -> bool:
    """Copy a Responses `usage` object into `usage`; Anthropic's input_tokens excludes cache reads and writes.

    Returns whether `source` held usage at all. `output_tokens` includes reasoning tokens, as Anthropic's
    includes thinking.
    """
    return read_openai_usage(source, usage, RESPONSES_USAGE)


def stop_reason(status: Any, incomplete_details: Any, has_tool_calls: bool) -> str:
    """A response's `status` (+ `incomplete_details.reason`) -> Anthropic `stop_reason`."""
    if status == "incomplete":
        reason = incomplete_details.get("reason") if isinstance(incomplete_details, dict) else None
        if reason == "max_output_tokens":
            return "max_tokens"
        if reason == "content_filter":
            return "refusal"
    return "tool_use" if has_tool_calls else "end_turn"


def error_type(code: Any) -> str:
    """A Responses error `code` -> the Anthropic error type."""
    if not isinstance(code, str):
        return "api_error"
    known = _ERROR_TYPES.get(code)
    if known:
        return known
    return "invalid_request_error" if code.startswith(_REQUEST_PROBLEMS) or "policy" in code else "api_error"


def error_text(error: Any) -> str:
    """The provider's own message from a Responses `error` object (or `error` event), with its code."""
    if not isinstance(error, dict):
        return str(error)[:500] if error else "no details given"
    message = error.get("message")
    text = message[:2000] if isinstance(message, str) and message else "no details given"
    code = error.get("code")
    return f"{text} ({code})" if isinstance(code, str) and code and code not in text else text


def response_to_message(
    response: dict[str, Any],
    model: str,
    input_tokens: int = 0,
    make_id: Callable[[], str] = new_id,
) -> dict[str, Any]:
    """A Responses `response` object -> an Anthropic message dict. `input_tokens` is used when it has no usage."""
    content: list[dict[str, Any]] = []
    output = response.get("output")
    for item in output if isinstance(output, list) else ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "reasoning":
            block = thinking_block(item)
            if block is not None:
                content.append(block)
        elif kind == "message":
            text = message_text(item)
            if text:
                content.append({"type": "text", "text": text})
        elif kind == "function_call":
            content.append(
                {
                    "type": "tool_use",
                    "id": tool_id(item.get("call_id"), make_id),
                    "name": _str(item.get("name")),
                    "input": parse_arguments(item.get("arguments")),
                }
            )
        # built-in tool calls (web_search_call, ...) ran at the provider: their findings are in the message text
    has_calls = any(block["type"] == "tool_use" for block in content)
    usage = Usage(input_tokens=input_tokens)
    read_usage(response.get("usage"), usage)
    return {
        "id": message_id(response.get("id"), make_id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(response.get("status"), response.get("incomplete_details"), has_calls),
        "stop_sequence": None,
        "usage": usage.as_dict(),
    }


def thinking_block(item: dict[str, Any]) -> dict[str, Any] | None:
    """A `reasoning` output item -> a thinking block, or None when it holds nothing to show or send back."""
    text = reasoning_text(item)
    encrypted = _str(item.get("encrypted_content"))
    if not text and not encrypted:
        return None
    return {"type": "thinking", "thinking": text, "signature": reasoning_signature(_str(item.get("id")), encrypted)}


def reasoning_text(item: dict[str, Any]) -> str:
    """The summary parts of a reasoning item (or its raw reasoning text, which open-weight servers send)."""
    for key, part_type in (("summary", "summary_text"), ("content", "reasoning_text")):
        parts = item.get(key)
        texts = [
            part["text"]
            for part in (parts if isinstance(parts, list) else ())
            if isinstance(part, dict) and part.get("type") == part_type and isinstance(part.get("text"), str)
        ]
        if any(texts):
            return "\n\n".join(text for text in texts if text)
    return ""


def message_text(item: dict[str, Any]) -> str:
    """The text of a `message` output item: its output_text and refusal parts."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    pieces: list[str] = []
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        value = part.get("text") if kind == "output_text" else part.get("refusal") if kind == "refusal" else None
        if isinstance(value, str):
            pieces.append(value)
    return "".join(pieces)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
