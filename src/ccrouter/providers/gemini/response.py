"""Gemini `GenerateContentResponse` -> Anthropic message, and the part-by-part writer the stream shares.

Thought signatures ride in thinking blocks, because Claude Code returns a thinking block's `signature` untouched
on the next turn but drops fields it does not know from tool_use and text blocks:

- a `thought: true` part becomes a thinking block signed `ccrouter-gemini:<thoughtSignature>`, or
  `ccrouter-gemini` when Gemini did not sign it;
- a signature on any other part (a function call, a text) becomes an empty thinking block signed
  `ccrouter-gemini:<thoughtSignature>` just before that part's block; the request side puts it back on the part
  that follows it. Anything signed `ccrouter-...` is dropped before a conversation reaches Anthropic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ccrouter.providers.base import Usage, new_id
from ccrouter.providers.stream_events import Event, block_delta, block_start, block_stop, empty_block_start

GEMINI_SIGNATURE_PREFIX = "ccrouter-gemini:"
GEMINI_UNSIGNED = "ccrouter-gemini"  # the signature of a thought Gemini did not sign

STOP_REASONS = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "refusal",
    "RECITATION": "refusal",
    "LANGUAGE": "refusal",
    "BLOCKLIST": "refusal",
    "PROHIBITED_CONTENT": "refusal",
    "SPII": "refusal",
    "IMAGE_SAFETY": "refusal",
    "IMAGE_PROHIBITED_CONTENT": "refusal",
    "IMAGE_RECITATION": "refusal",
}
# Finish reasons that mean the model failed to answer properly: a retry usually works, so they become errors.
FAILED_FINISH = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"})


def stop_reason(finish: Any, has_calls: bool) -> str:
    """Gemini `finishReason` -> Anthropic `stop_reason`: STOP after function calls is `tool_use`."""
    if has_calls and finish in (None, "STOP", "FINISH_REASON_UNSPECIFIED", "OTHER"):
        return "tool_use"
    return STOP_REASONS.get(finish, "end_turn") if isinstance(finish, str) else "end_turn"


def failed_finish_message(candidate: dict[str, Any]) -> str:
    finish = candidate.get("finishReason")
    detail = candidate.get("finishMessage")
    text = f"Gemini could not finish its answer ({finish})"
    if isinstance(detail, str) and detail:
        text += f": {detail[:500]}"
    return text + ". Try again."


def read_usage(meta: Any, usage: Usage) -> bool:
    """`usageMetadata` -> `usage`: input excludes cache reads, as Anthropic counts; output includes thoughts."""
    if not isinstance(meta, dict):
        return False
    prompt = meta.get("promptTokenCount")
    if isinstance(prompt, int) and not isinstance(prompt, bool):
        cached = _count(meta.get("cachedContentTokenCount"))
        tool_prompt = _count(meta.get("toolUsePromptTokenCount"))
        usage.input_tokens = max(prompt + tool_prompt - cached, 0)
        usage.cache_read_input_tokens = cached
    usage.output_tokens = _count(meta.get("candidatesTokenCount")) + _count(meta.get("thoughtsTokenCount"))
    return True


def first_candidate(data: dict[str, Any]) -> dict[str, Any] | None:
    candidates = data.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return None


def candidate_parts(candidate: dict[str, Any] | None) -> list[dict[str, Any]]:
    content = candidate.get("content") if candidate else None
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def blocked_prompt(data: dict[str, Any]) -> bool:
    """Gemini refused the prompt itself: no candidates, a `promptFeedback.blockReason`."""
    feedback = data.get("promptFeedback")
    return first_candidate(data) is None and isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def message_id(response_id: Any, make_id: Callable[[], str]) -> str:
    if isinstance(response_id, str) and response_id:
        return "msg_" + response_id
    return "msg_" + make_id()


class BlockWriter:
    """Gemini parts in, Anthropic content-block events out, one part at a time.

    Adjacent text (or unsigned thought) parts continue one block; their pieces wait in `_pending` and go out as
    one delta at `flush()`, so a stream read that held many chunks costs one event per block.
    """

    def __init__(self, make_id: Callable[[], str]) -> None:
        self._make_id = make_id
        self.index = -1
        self.has_calls = False
        self._open: str | None = None  # "text" | "thinking"
        self._pending: list[str] = []

    def add(self, part: dict[str, Any], out: list[Event]) -> None:
        signature = part.get("thoughtSignature")
        signature = signature if isinstance(signature, str) and signature else None
        text = part.get("text")
        text = text if isinstance(text, str) else ""
        if part.get("thought") is True:
            if text:
                self._piece("thinking", text, out)
            if signature is not None:
                if self._open == "thinking":
                    self._close(out, GEMINI_SIGNATURE_PREFIX + signature)
                else:
                    self.close(out)
                    self._carrier(signature, out)
            return
        call = part.get("functionCall")
        if isinstance(call, dict):
            self.close(out)
            if signature is not None:
                self._carrier(signature, out)
            self._tool_use(call, out)
            return
        if signature is not None:
            self.close(out)
            self._carrier(signature, out)
        if text:
            self._piece("text", text, out)
        # Other parts (inlineData, executableCode, ...) have no Anthropic counterpart in an assistant message.

    def flush(self, out: list[Event]) -> None:
        if self._pending:
            kind = "text_delta" if self._open == "text" else "thinking_delta"
            field = "text" if self._open == "text" else "thinking"
            out.append(block_delta(self.index, {"type": kind, field: "".join(self._pending)}))
            self._pending = []

    def close(self, out: list[Event]) -> None:
        """Close the open block; an unsigned thinking block gets ccrouter's unsigned marker."""
        self._close(out, GEMINI_UNSIGNED)

    def _close(self, out: list[Event], signature: str) -> None:
        if self._open is None:
            return
        self.flush(out)
        if self._open == "thinking":
            out.append(block_delta(self.index, {"type": "signature_delta", "signature": signature}))
        out.append(block_stop(self.index))
        self._open = None

    def _piece(self, kind: str, text: str, out: list[Event]) -> None:
        if self._open != kind:
            self.close(out)
            self.index += 1
            self._open = kind
            out.append(empty_block_start(self.index, kind))
        self._pending.append(text)

    def _carrier(self, signature: str, out: list[Event]) -> None:
        """An empty thinking block that carries the signature of the part after it."""
        self.index += 1
        out.append(empty_block_start(self.index, "thinking"))
        out.append(
            block_delta(self.index, {"type": "signature_delta", "signature": GEMINI_SIGNATURE_PREFIX + signature})
        )
        out.append(block_stop(self.index))

    def _tool_use(self, call: dict[str, Any], out: list[Event]) -> None:
        self.has_calls = True
        self.index += 1
        name = call.get("name")
        args = call.get("args")
        block = {"type": "tool_use", "id": "toolu_" + self._make_id(), "name": name if isinstance(name, str) else ""}
        out.append(block_start(self.index, {**block, "input": {}}))
        if isinstance(args, dict) and args:
            partial = orjson.dumps(args).decode()
            out.append(block_delta(self.index, {"type": "input_json_delta", "partial_json": partial}))
        out.append(block_stop(self.index))


def response_to_message(
    data: dict[str, Any], model: str, input_tokens: int = 0, make_id: Callable[[], str] = new_id
) -> dict[str, Any]:
    """A non-streaming GenerateContentResponse -> an Anthropic message dict (`input_tokens`: the estimate used
    when the response has no usage)."""
    candidate = first_candidate(data)
    writer = BlockWriter(make_id)
    events: list[Event] = []
    for part in candidate_parts(candidate):
        writer.add(part, events)
    writer.close(events)
    usage = Usage(input_tokens=input_tokens)
    read_usage(data.get("usageMetadata"), usage)
    if blocked_prompt(data):
        reason = "refusal"
    else:
        reason = stop_reason(candidate.get("finishReason") if candidate else None, writer.has_calls)
    return {
        "id": message_id(data.get("responseId"), make_id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks_of(events),
        "stop_reason": reason,
        "stop_sequence": None,
        "usage": usage.as_dict(),
    }


def blocks_of(events: list[Event]) -> list[dict[str, Any]]:
    """The content blocks a list of block events describes (what a client's accumulator would build)."""
    blocks: list[dict[str, Any]] = []
    json_parts: dict[int, list[str]] = {}
    for name, data in events:
        if name == "content_block_start":
            blocks.append(dict(data["content_block"]))
        elif name == "content_block_delta":
            block, delta = blocks[data["index"]], data["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] = delta["signature"]
            elif kind == "input_json_delta":
                json_parts.setdefault(data["index"], []).append(delta["partial_json"])
    for index, parts in json_parts.items():
        blocks[index]["input"] = orjson.loads("".join(parts))
    return blocks


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: Any) -> int:
    return value if _is_int(value) and value > 0 else 0
