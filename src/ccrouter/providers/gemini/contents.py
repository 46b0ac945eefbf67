"""Anthropic system + messages -> Gemini `systemInstruction` and `contents`.

- `system` and every `role: "system"` message go to `systemInstruction` (CCR sends them as a user turn). Claude
  Code's `x-anthropic-billing-header` line is left out: it changes on every request and would defeat Gemini's
  implicit prompt cache, which keys on the prompt's prefix.
- `tool_result` blocks become `functionResponse` parts named after the matching `tool_use` earlier in the
  conversation, in the order of the calls; an error result is sent as `{"error": ...}`, else `{"output": ...}`;
  images a tool returned follow as inline parts.
- thinking blocks ccrouter made from Gemini (signature `ccrouter-gemini...`) become thought parts and put their
  `thoughtSignature` back on the part that carried it; other providers' thinking is left out.
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from ccrouter.providers.base import system_prompt_texts
from ccrouter.providers.gemini.response import GEMINI_SIGNATURE_PREFIX, GEMINI_UNSIGNED

TOOL_IMAGE_NOTE = "(the tool returned images; they follow)"
# Google's documented placeholder for a function call whose signature was lost (history from another model):
# Gemini 3 rejects a function call of the current turn without one.
SKIP_SIGNATURE = "skip_thought_signature_validator"

_GEMINI_VERSION = re.compile(r"gemini-(\d+)")


def is_gemini_3_or_later(model: str) -> bool:
    match = _GEMINI_VERSION.search(model)
    return match is not None and int(match.group(1)) >= 3


def system_instruction(body: dict[str, Any]) -> str:
    texts = system_prompt_texts(body.get("system"))
    for message in body.get("messages") or ():
        if isinstance(message, dict) and message.get("role") == "system":
            texts += _texts(message.get("content"))
    return "\n\n".join(t for t in texts if t)


def build_contents(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
    messages = [m for m in body.get("messages") or () if isinstance(m, dict) and m.get("role") != "system"]
    names = _tool_names(messages)
    contents: list[dict[str, Any]] = []
    call_order: dict[str, int] = {}  # tool_use id -> position in the latest assistant turn
    sign_calls = is_gemini_3_or_later(model)
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role == "assistant":
            parts = _model_parts(content)
            call_order = {str(b.get("id")): i for i, b in enumerate(_blocks(content)) if b.get("type") == "tool_use"}
            if sign_calls:
                _sign_unsigned_calls(parts)
            _append(contents, "model", parts)
        elif role == "user":
            _append(contents, "user", _user_parts(content, names, call_order))
    return contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:  # Gemini wants turns to alternate
        contents[-1]["parts"] += parts
    else:
        contents.append({"role": role, "parts": parts})


# ----------------------------------------------------------------------------------------------------------
# User turns


def _user_parts(content: Any, names: dict[str, str], call_order: dict[str, int]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    responses: list[tuple[int, dict[str, Any]]] = []
    images: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in _blocks(content):
        if block.get("type") == "tool_result":
            use_id = str(block.get("tool_use_id", ""))
            name = names.get(use_id)
            if name is None:  # no call to answer: keep what it says as text
                parts += _orphan_result(block)
                continue
            position = call_order.get(use_id, len(call_order) + len(responses))
            responses.append((position, _function_response(name, block, images)))
            continue
        part = _content_part(block)
        if part is not None:
            parts.append(part)
    responses.sort(key=lambda pair: pair[0])
    return [part for _, part in responses] + images + parts


def _function_response(name: str, block: dict[str, Any], images: list[dict[str, Any]]) -> dict[str, Any]:
    content = block.get("content")
    before = len(images)
    if isinstance(content, str):
        text = content
    else:
        texts: list[str] = []
        for item in _blocks(content):
            if item.get("type") == "image":
                image = _media_part(item.get("source"), "image/png")
                if image is not None:
                    images.append(image)
                continue
            if item.get("type") == "tool_reference" and isinstance(item.get("tool_name"), str):
                texts.append(f"(tool {item['tool_name']} is now available)")  # ToolSearch's answer
                continue
            part = _content_part(item)
            if part is not None and "text" in part:
                texts.append(part["text"])
        text = "\n\n".join(texts)
        if len(images) > before:
            text = f"{text}\n\n{TOOL_IMAGE_NOTE}" if text else TOOL_IMAGE_NOTE
    key = "error" if block.get("is_error") else "output"
    return {"functionResponse": {"name": name, "response": {key: text}}}


def _orphan_result(block: dict[str, Any]) -> list[dict[str, Any]]:
    images: list[dict[str, Any]] = []
    response = _function_response("", block, images)["functionResponse"]["response"]
    label = "error" if "error" in response else "result"
    text = next(iter(response.values()))
    return [{"text": f"[tool {label} for {block.get('tool_use_id', '')}]\n{text}"}, *images]


def _content_part(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return {"text": text} if isinstance(text, str) and text else None
    if kind == "image":
        return _media_part(block.get("source"), "image/png")
    if kind == "document":
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") == "text" and isinstance(source.get("data"), str):
            return {"text": source["data"]}
        if isinstance(source, dict) and source.get("type") == "content":
            text = "\n\n".join(_texts(source.get("content")))
            return {"text": text} if text else None
        return _media_part(source, "application/pdf")
    return None


def _media_part(source: Any, default_type: str) -> dict[str, Any] | None:
    """An image or document source -> `inlineData` (base64) or `fileData` (a URL); a URL whose type cannot be
    told becomes a text note."""
    if not isinstance(source, dict):
        return None
    kind = source.get("type")
    if kind == "base64" and isinstance(source.get("data"), str):
        media_type = source.get("media_type")
        mime = media_type if isinstance(media_type, str) and media_type else default_type
        return {"inlineData": {"mimeType": mime, "data": source["data"]}}
    if kind == "url" and isinstance(source.get("url"), str):
        url = source["url"]
        guessed = mimetypes.guess_type(url.split("?", 1)[0])[0]
        if guessed is None:
            return {"text": f"[{default_type.split('/')[0]}: {url}]"}
        return {"fileData": {"mimeType": guessed, "fileUri": url}}
    return None


# ----------------------------------------------------------------------------------------------------------
# Model turns


def _model_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    pending: str | None = None  # a carried signature, for the next part

    def add(part: dict[str, Any]) -> None:
        nonlocal pending
        if pending is not None:
            part["thoughtSignature"] = pending
            pending = None
        parts.append(part)

    for block in _blocks(content):
        kind = block.get("type")
        if kind == "thinking":
            signature = _gemini_signature(block.get("signature"))
            if signature is None:
                continue  # another provider's thinking: Gemini cannot use it
            text = block.get("thinking")
            if isinstance(text, str) and text:
                if pending is not None:
                    add({"text": ""})
                part: dict[str, Any] = {"text": text, "thought": True}
                if signature:
                    part["thoughtSignature"] = signature
                parts.append(part)
            elif signature:
                if pending is not None:
                    add({"text": ""})
                pending = signature
        elif kind == "text":
            text = block.get("text")
            if isinstance(text, str) and (text or pending is not None):
                add({"text": text})
        elif kind == "tool_use":
            args = block.get("input")
            add({"functionCall": {"name": str(block.get("name", "")), "args": args if isinstance(args, dict) else {}}})
    if pending is not None:
        add({"text": ""})
    return parts


def _gemini_signature(signature: Any) -> str | None:
    """The Gemini signature a thinking block carries: "" for an unsigned Gemini thought, None if not Gemini's."""
    if not isinstance(signature, str):
        return None
    if signature.startswith(GEMINI_SIGNATURE_PREFIX):
        return signature[len(GEMINI_SIGNATURE_PREFIX) :]
    return "" if signature == GEMINI_UNSIGNED else None


def _sign_unsigned_calls(parts: list[dict[str, Any]]) -> None:
    calls = [part for part in parts if "functionCall" in part]
    if calls and not any("thoughtSignature" in part for part in calls):
        calls[0]["thoughtSignature"] = SKIP_SIGNATURE


# ----------------------------------------------------------------------------------------------------------


def _tool_names(messages: list[dict[str, Any]]) -> dict[str, str]:
    names: dict[str, str] = {}
    for message in messages:
        if message.get("role") == "assistant":
            for block in _blocks(message.get("content")):
                if block.get("type") == "tool_use" and isinstance(block.get("name"), str):
                    names[str(block.get("id", ""))] = block["name"]
    return names


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [b["text"] for b in _blocks(content) if b.get("type") == "text" and isinstance(b.get("text"), str)]
