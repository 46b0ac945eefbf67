"""Anthropic Messages request -> OpenAI Responses request (`POST /v1/responses`).

The output is built from a whitelist, so Anthropic-only fields (cache_control, metadata, context_management,
thinking, stop_sequences, defer_loading, other server tools, ...) never reach the server. The API is used
statelessly (`store: false`): every request carries the whole conversation, tool calls as `function_call` /
`function_call_output` items joined by `call_id` (the Anthropic tool_use id), and the model's earlier reasoning as
`reasoning` items rebuilt from the signatures of the thinking blocks ccrouter made (see openai_responses_response).
Thinking blocks signed by anyone else (Anthropic, another adapter) are left out: this provider cannot use them.
"""

from __future__ import annotations

from typing import Any

import orjson

from ccrouter.providers.base import system_prompt_texts
from ccrouter.providers.openai_chat.request import (
    TOOL_ERROR_PREFIX,
    add_tool_choice,
    function_declaration,
    image_url,
    reasoning_effort,
    text_of,
)
from ccrouter.providers.openai_responses.response import reasoning_of_signature

MIN_OUTPUT_TOKENS = 16  # the Responses API refuses a smaller max_output_tokens; Claude Code probes models with 1
ENCRYPTED_REASONING = "reasoning.encrypted_content"
SUMMARIES = ("auto", "concise", "detailed")


def build_responses_request(body: dict[str, Any], model: str, *, summary: str | None = "auto") -> dict[str, Any]:
    """The Responses body for an Anthropic Messages body; `body` is not modified.

    `summary` is the reasoning summary asked for when thinking is on and the client shows it (None: never ask;
    organisations OpenAI has not verified may not request summaries).
    """
    out: dict[str, Any] = {"model": model}
    instructions, items = _input(body)
    if instructions:
        out["instructions"] = instructions
    out["input"] = items
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        out["max_output_tokens"] = max(max_tokens, MIN_OUTPUT_TOKENS)
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    tools, max_uses = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        add_tool_choice(body.get("tool_choice"), out, lambda name: _forced_tool(name, body.get("tools"), tools))
        if max_uses:
            out["max_tool_calls"] = max_uses
    thinking = body.get("thinking")
    effort = reasoning_effort(thinking, body.get("output_config"))
    if effort:
        reasoning: dict[str, Any] = {"effort": effort}
        omitted = isinstance(thinking, dict) and thinking.get("display") == "omitted"
        if summary and not omitted:
            reasoning["summary"] = summary
        out["reasoning"] = reasoning
        out["include"] = [ENCRYPTED_REASONING]
    text_format = _text_format(body.get("output_config"))
    if text_format:
        out["text"] = {"format": text_format}
    out["store"] = False
    if body.get("stream"):
        out["stream"] = True
    return out


# ----------------------------------------------------------------------------------------------------------
# Input items


def _input(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """`(instructions, input items)`: system text (and leading system messages) go to `instructions`; system
    messages later in the conversation become `developer` messages where they stand."""
    system = "\n\n".join(system_prompt_texts(body.get("system")))
    instructions = [system] if system else []
    items: list[dict[str, Any]] = []
    leading = True
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        if role == "system":
            text = text_of(content)
            if text and leading:
                instructions.append(text)
            elif text:
                items.append({"type": "message", "role": "developer", "content": text})
            continue
        leading = False
        if role == "user":
            _user(content, items)
        elif role == "assistant":
            _assistant(content, items)
    return "\n\n".join(instructions), items


def _user(content: Any, items: list[dict[str, Any]]) -> None:
    """Tool results become `function_call_output` items; the rest of the turn follows as one user message."""
    if isinstance(content, str):
        items.append({"type": "message", "role": "user", "content": content})
        return
    parts: list[dict[str, Any]] = []
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            items.append(_tool_output(block))
            continue
        part = _input_part(block)
        if part is not None:
            parts.append(part)
    if parts:
        items.append({"type": "message", "role": "user", "content": parts})


def _input_part(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return {"type": "input_text", "text": text} if isinstance(text, str) and text else None
    if kind == "image":
        url = image_url(block.get("source"))
        return {"type": "input_image", "image_url": url, "detail": "auto"} if url else None
    if kind == "document":
        return _document(block)
    return None


def _document(block: dict[str, Any]) -> dict[str, Any] | None:
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    kind = source.get("type")
    if kind == "text" and isinstance(source.get("data"), str):
        return {"type": "input_text", "text": source["data"]}
    if kind == "content":
        text = text_of(source.get("content"))
        return {"type": "input_text", "text": text} if text else None
    filename = block.get("title") if isinstance(block.get("title"), str) and block["title"] else "document.pdf"
    if kind == "base64" and isinstance(source.get("data"), str):
        media_type = source.get("media_type") or "application/pdf"
        return {"type": "input_file", "filename": filename, "file_data": f"data:{media_type};base64,{source['data']}"}
    if kind == "url" and isinstance(source.get("url"), str):
        return {"type": "input_file", "file_url": source["url"]}
    return None


def _tool_output(block: dict[str, Any]) -> dict[str, Any]:
    """A `tool_result` -> a `function_call_output`: text as a string, or a list of parts when it holds images
    (the Responses API takes images in tool output). `is_error` becomes a visible prefix."""
    content = block.get("content")
    error = bool(block.get("is_error"))
    output: str | list[dict[str, Any]]
    if isinstance(content, list):
        parts = [part for part in (_input_part(item) for item in content if isinstance(item, dict)) if part]
        if all(part["type"] == "input_text" for part in parts):
            output = "\n\n".join(part["text"] for part in parts)
        else:
            output = parts
    else:
        output = content if isinstance(content, str) else ""
    if error and isinstance(output, str):
        output = TOOL_ERROR_PREFIX + output
    elif error and isinstance(output, list):
        if output[0]["type"] == "input_text":
            output[0] = {**output[0], "text": TOOL_ERROR_PREFIX + output[0]["text"]}
        else:
            output.insert(0, {"type": "input_text", "text": TOOL_ERROR_PREFIX.strip()})
    return {"type": "function_call_output", "call_id": str(block.get("tool_use_id", "")), "output": output}


def _assistant(content: Any, items: list[dict[str, Any]]) -> None:
    """An assistant turn -> its items in block order: reasoning, message text, function calls."""
    if isinstance(content, str):
        if content:
            items.append({"type": "message", "role": "assistant", "content": content})
        return
    turn: list[dict[str, Any]] = []
    texts: list[str] = []

    def flush_text() -> None:
        if texts:
            turn.append({"type": "message", "role": "assistant", "content": "\n\n".join(texts)})
            texts.clear()

    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            if block["text"]:
                texts.append(block["text"])
        elif kind == "tool_use":
            flush_text()
            turn.append(
                {
                    "type": "function_call",
                    "call_id": str(block.get("id", "")),
                    "name": str(block.get("name", "")),
                    "arguments": orjson.dumps(block.get("input") or {}).decode(),
                }
            )
        elif kind == "thinking":
            reasoning = _reasoning_item(block)
            if reasoning is not None:
                flush_text()
                turn.append(reasoning)
    flush_text()
    # The API wants a reasoning item followed by the output it led to; one that ends the turn has none left.
    while turn and turn[-1]["type"] == "reasoning":
        turn.pop()
    items.extend(turn)


def _reasoning_item(block: dict[str, Any]) -> dict[str, Any] | None:
    """A thinking block this adapter signed -> the provider's reasoning item; any other -> None."""
    reasoning = reasoning_of_signature(block.get("signature"))
    if reasoning is None:
        return None
    item_id, encrypted = reasoning
    text = block.get("thinking")
    item: dict[str, Any] = {"type": "reasoning"}
    if item_id:
        item["id"] = item_id
    item["summary"] = [{"type": "summary_text", "text": text}] if isinstance(text, str) and text else []
    item["encrypted_content"] = encrypted
    return item


# ----------------------------------------------------------------------------------------------------------
# Tools and output format


def _tools(tools: Any) -> tuple[list[dict[str, Any]], int]:
    """Client tools -> flat function tools; Anthropic's web search server tool -> `web_search` (its `max_uses`
    returned as the request's `max_tool_calls`); other server tools are dropped."""
    result: list[dict[str, Any]] = []
    max_uses = 0
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        function = function_declaration(tool)
        if function is not None:  # not strict: Claude Code's schemas are not written for strict mode
            result.append({"type": "function", **function, "strict": False})
        elif isinstance(kind, str) and kind.startswith("web_search"):
            result.append(_web_search(tool))
            uses = tool.get("max_uses")
            if isinstance(uses, int) and not isinstance(uses, bool) and uses > 0:
                max_uses = max(max_uses, uses)
    return result, max_uses


def _web_search(tool: dict[str, Any]) -> dict[str, Any]:
    search: dict[str, Any] = {"type": "web_search"}
    allowed = tool.get("allowed_domains")
    if isinstance(allowed, list) and allowed:
        search["filters"] = {"allowed_domains": [domain for domain in allowed if isinstance(domain, str)]}
    location = tool.get("user_location")
    if isinstance(location, dict):
        fields = ("city", "region", "country", "timezone")
        search["user_location"] = {
            "type": "approximate",
            **{key: location[key] for key in fields if isinstance(location.get(key), str) and location[key]},
        }
    return search


def _forced_tool(name: Any, anthropic_tools: Any, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The `tool_choice` that forces the tool `name`: a function, or the web search it was translated to."""
    if any(tool["type"] == "function" and tool["name"] == name for tool in tools):
        return {"type": "function", "name": name}
    if _is_web_search_tool(name, anthropic_tools):
        return {"type": "allowed_tools", "mode": "required", "tools": [{"type": "web_search"}]}
    return None


def _is_web_search_tool(name: str, anthropic_tools: Any) -> bool:
    return any(
        isinstance(tool, dict)
        and tool.get("name") == name
        and isinstance(tool.get("type"), str)
        and tool["type"].startswith("web_search")
        for tool in (anthropic_tools if isinstance(anthropic_tools, list) else ())
    )


def _text_format(output_config: Any) -> dict[str, Any] | None:
    """`output_config.format` (a JSON schema the answer must follow) -> the Responses `text.format`."""
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        return None
    return {"type": "json_schema", "name": "output", "schema": fmt["schema"], "strict": False}
