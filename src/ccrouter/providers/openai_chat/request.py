"""Anthropic Messages request -> OpenAI chat completions request.

The output is built from a whitelist, so Anthropic-only fields (cache_control, metadata, context_management,
output_config, thinking, server tools, ...) never reach a strict OpenAI-compatible server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ccrouter.providers.base import system_prompt_texts

TOOL_ERROR_PREFIX = "[tool error] "
TOOL_IMAGE_NOTE = "(the tool returned images; they follow in the next message)"

_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high", "xhigh": "high", "minimal": "low"}


def build_chat_request(body: dict[str, Any], model: str, *, reasoning_echo: bool = True) -> dict[str, Any]:
    """The chat completions body for an Anthropic Messages body; `body` is not modified.

    `reasoning_echo` sends assistant `thinking` back as `reasoning_content` (DeepSeek requires it).
    """
    out: dict[str, Any] = {"model": model, "messages": _messages(body, reasoning_echo)}
    if "max_tokens" in body:
        out["max_tokens"] = body["max_tokens"]
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop_sequences")
    if stop:
        out["stop"] = stop
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        add_tool_choice(body.get("tool_choice"), out, _forced_function)
    effort = reasoning_effort(body.get("thinking"), body.get("output_config"))
    if effort:
        out["reasoning_effort"] = effort
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def reasoning_effort(thinking: Any, output_config: Any) -> str | None:
    """Anthropic `thinking` (+ `output_config.effort` for adaptive) -> OpenAI `reasoning_effort`."""
    if not isinstance(thinking, dict):
        return None
    kind = thinking.get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int):
            return "medium"
        return "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
    if kind == "adaptive":
        effort = output_config.get("effort") if isinstance(output_config, dict) else None
        return _EFFORTS.get(effort, "medium") if isinstance(effort, str) else "medium"
    return None


# ----------------------------------------------------------------------------------------------------------
# Messages


def _messages(body: dict[str, Any], reasoning_echo: bool) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    system = "\n\n".join(system_prompt_texts(body.get("system")))
    if system:
        messages.append({"role": "system", "content": system})
    leading_system = True  # still before the first user/assistant message
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        if role == "system":
            text = text_of(content)
            if not text:
                continue
            if leading_system and messages:
                messages[0]["content"] += "\n\n" + text
            else:
                messages.append({"role": "system", "content": text})
            continue
        leading_system = False
        if role == "user":
            _user(content, messages)
        elif role == "assistant":
            messages.append(_assistant(content, reasoning_echo))
    return messages


def text_of(content: Any) -> str:
    """A string, or the text blocks of a block list joined by blank lines."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n\n".join(
        block["text"]
        for block in content
        if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
    )


def _user(content: Any, messages: list[dict[str, Any]]) -> None:
    if isinstance(content, str):
        messages.append({"role": "user", "content": content})
        return
    if not isinstance(content, list):
        return
    parts: list[dict[str, Any]] = []
    tool_images: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_result":
            messages.append(_tool_message(block, tool_images))
            continue
        part = _user_part(block)
        if part is not None:
            parts.append(part)
    parts = tool_images + parts
    if not parts:
        return
    if all(part["type"] == "text" for part in parts):
        messages.append({"role": "user", "content": "\n\n".join(part["text"] for part in parts)})
    else:
        messages.append({"role": "user", "content": parts})


def _user_part(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return {"type": "text", "text": text} if isinstance(text, str) and text else None
    if kind == "image":
        url = image_url(block.get("source"))
        return {"type": "image_url", "image_url": {"url": url}} if url else None
    if kind == "document":
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") == "text" and isinstance(source.get("data"), str):
            return {"type": "text", "text": source["data"]}
        if isinstance(source, dict) and source.get("type") == "base64":
            data_url = f"data:{source.get('media_type', 'application/pdf')};base64,{source.get('data', '')}"
            return {"type": "file", "file": {"filename": block.get("title") or "document", "file_data": data_url}}
    return None


def image_url(source: Any) -> str | None:
    if not isinstance(source, dict):
        return None
    kind = source.get("type")
    if kind == "base64":
        return f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    if kind == "url" and isinstance(source.get("url"), str):
        return str(source["url"])
    return None


def _tool_message(block: dict[str, Any], images: list[dict[str, Any]]) -> dict[str, Any]:
    """A `tool_result` -> a `role: tool` message; its images go to `images` (tool messages are text-only)."""
    content = block.get("content")
    before = len(images)
    if isinstance(content, str):
        text = content
    else:
        texts: list[str] = []
        for item in content if isinstance(content, list) else ():
            if not isinstance(item, dict):
                continue
            if item.get("type") == "text" and isinstance(item.get("text"), str):
                texts.append(item["text"])
            elif item.get("type") == "image":
                url = image_url(item.get("source"))
                if url:
                    images.append({"type": "image_url", "image_url": {"url": url}})
        text = "\n\n".join(texts)
        if len(images) > before:
            text = f"{text}\n\n{TOOL_IMAGE_NOTE}" if text else TOOL_IMAGE_NOTE
    if block.get("is_error"):
        text = TOOL_ERROR_PREFIX + text
    return {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text}


def _assistant(content: Any, reasoning_echo: bool) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    thinking: list[str] | None = None
    calls: list[dict[str, Any]] = []
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            if block["text"]:
                texts.append(block["text"])
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(
                {
                    "id": str(block.get("id", "")),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": arguments},
                }
            )
        elif kind == "thinking":
            if thinking is None:
                thinking = []
            if isinstance(block.get("thinking"), str) and block["thinking"]:
                thinking.append(block["thinking"])
    # "" rather than null beside tool calls: llama-cpp-python (and strict chat templates) refuse a null content.
    message: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts)}
    if calls:
        message["tool_calls"] = calls
    if reasoning_echo and thinking is not None:
        message["reasoning_content"] = "\n\n".join(thinking)
    return message


# ----------------------------------------------------------------------------------------------------------
# Tools


def _tools(tools: Any) -> list[dict[str, Any]]:
    """Client tools -> functions; server tools (a `type` such as web_search_20250305) are dropped."""
    result: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else ():
        function = function_declaration(tool)
        if function is not None:
            result.append({"type": "function", "function": function})
    return result


def _forced_function(name: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def function_declaration(tool: Any) -> dict[str, Any] | None:
    """A client tool's `name`, `description` and `parameters` (its input schema), as both OpenAI APIs declare a
    function; None for a server tool (a `type` such as web_search_20250305) or a tool without a name."""
    if not isinstance(tool, dict) or tool.get("type") not in (None, "custom") or not tool.get("name"):
        return None
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    schema = tool.get("input_schema")
    function["parameters"] = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
    return function


def add_tool_choice(choice: Any, out: dict[str, Any], force_tool: Callable[[Any], dict[str, Any] | None]) -> None:
    """Anthropic `tool_choice` -> `tool_choice` and `parallel_tool_calls`, which both OpenAI APIs take alike but
    for forcing one named tool: `force_tool(name)` says how (None: it cannot be forced, so nothing is)."""
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool" and choice.get("name"):
        forced = force_tool(choice["name"])
        if forced is not None:
            out["tool_choice"] = forced
    if choice.get("disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False
