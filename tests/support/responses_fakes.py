"""OpenAI Responses API replies for the scripted provider: whole response objects and SSE event streams.

`ResponsesStream` writes a stream the way OpenAI's server does (numbered events; each output item announced,
filled by deltas and finished; `response.completed` carrying the whole response), one item at a time or, with its
lower-level methods, interleaved. The shapes follow the `openai` SDK's own types (the tests validate them).
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.fake_upstream import Scripted, json_reply

MODEL = "gpt-fake"


def usage(input_tokens: int = 12, output_tokens: int = 5, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def response_object(
    output: list[dict[str, Any]],
    *,
    response_id: str = "resp_fake",
    status: str = "completed",
    usage_: dict[str, Any] | None = None,
    incomplete_reason: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": 1760000000,
        "status": status,
        "model": MODEL,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "usage": usage_,
    }


def message_item(text: str, item_id: str = "msg_fake", status: str = "completed") -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": [part]}


def function_call_item(
    call_id: str, name: str, arguments: str, item_id: str = "fc_fake", status: str = "completed"
) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def reasoning_item(summary: list[str], encrypted: str | None, item_id: str = "rs_fake") -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": [{"type": "summary_text", "text": text} for text in summary],
        "encrypted_content": encrypted,
    }


def pieces(text: str, count: int) -> list[str]:
    """`text` cut into `count` fragments of about equal size (fewer when it is short)."""
    if not text:
        return []
    size = max(1, -(-len(text) // max(count, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)]


class ResponsesStream:
    """Builds a Responses SSE stream event by event."""

    def __init__(self, response_id: str = "resp_fake") -> None:
        self.response_id = response_id
        self.events: list[dict[str, Any]] = []
        self.output: list[dict[str, Any]] = []

    def event(self, kind: str, **fields: Any) -> ResponsesStream:
        self.events.append({"type": kind, "sequence_number": len(self.events), **fields})
        return self

    # -- whole items ----------------------------------------------------------------------------------------

    def created(self) -> ResponsesStream:
        pending = response_object([], response_id=self.response_id, status="in_progress")
        self.event("response.created", response=pending)
        return self.event("response.in_progress", response=pending)

    def text(self, text: str, count: int = 3, item_id: str = "msg_fake") -> ResponsesStream:
        index = self.add(message_item("", item_id, "in_progress") | {"content": []})
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        self.event("response.content_part.added", item_id=item_id, output_index=index, content_index=0, part=part)
        for piece in pieces(text, count):
            self.text_delta(index, piece, item_id)
        self.event(
            "response.output_text.done", item_id=item_id, output_index=index, content_index=0, text=text, logprobs=[]
        )
        done_part = {**part, "text": text}
        self.event("response.content_part.done", item_id=item_id, output_index=index, content_index=0, part=done_part)
        return self.done(index, message_item(text, item_id))

    def reasoning(
        self, summary: list[str], encrypted: str | None, item_id: str = "rs_fake", count: int = 2
    ) -> ResponsesStream:
        index = self.add(reasoning_item([], None, item_id))
        for number, text in enumerate(summary):
            part = {"type": "summary_text", "text": ""}
            common = {"item_id": item_id, "output_index": index, "summary_index": number}
            self.event("response.reasoning_summary_part.added", **common, part=part)
            for piece in pieces(text, count):
                self.event("response.reasoning_summary_text.delta", **common, delta=piece)
            self.event("response.reasoning_summary_text.done", **common, text=text)
            self.event("response.reasoning_summary_part.done", **common, part={**part, "text": text})
        return self.done(index, reasoning_item(summary, encrypted, item_id))

    def function_call(
        self, call_id: str, name: str, arguments: str, item_id: str = "fc_fake", count: int = 3
    ) -> ResponsesStream:
        index = self.add(function_call_item(call_id, name, "", item_id, "in_progress"))
        for piece in pieces(arguments, count):
            self.arguments_delta(index, piece, item_id)
        self.arguments_done(index, arguments, item_id)
        return self.done(index, function_call_item(call_id, name, arguments, item_id))

    def completed(
        self,
        usage_: dict[str, Any] | None = None,
        status: str = "completed",
        incomplete_reason: str | None = None,
    ) -> ResponsesStream:
        final = response_object(
            [item for item in self.output if item],
            response_id=self.response_id,
            status=status,
            usage_=usage_ if usage_ is not None else usage(),
            incomplete_reason=incomplete_reason,
        )
        kind = "response.incomplete" if status == "incomplete" else "response.completed"
        return self.event(kind, response=final)

    def failed(self, code: str, message: str) -> ResponsesStream:
        error = {"code": code, "message": message}
        final = response_object(self.output, response_id=self.response_id, status="failed", error=error)
        return self.event("response.failed", response=final)

    # -- pieces, for interleaving ---------------------------------------------------------------------------

    def add(self, item: dict[str, Any]) -> int:
        """Announce an output item; returns its output_index."""
        index = len(self.output)
        self.output.append({})
        self.event("response.output_item.added", output_index=index, item=item)
        return index

    def done(self, index: int, item: dict[str, Any]) -> ResponsesStream:
        self.output[index] = item
        return self.event("response.output_item.done", output_index=index, item=item)

    def text_delta(self, index: int, delta: str, item_id: str = "msg_fake") -> ResponsesStream:
        return self.event(
            "response.output_text.delta", item_id=item_id, output_index=index, content_index=0, delta=delta, logprobs=[]
        )

    def arguments_delta(self, index: int, delta: str, item_id: str) -> ResponsesStream:
        return self.event("response.function_call_arguments.delta", item_id=item_id, output_index=index, delta=delta)

    def arguments_done(self, index: int, arguments: str, item_id: str) -> ResponsesStream:
        return self.event(
            "response.function_call_arguments.done", item_id=item_id, output_index=index, arguments=arguments
        )

    # -- wire -----------------------------------------------------------------------------------------------

    def sse(self) -> bytes:
        return b"".join(sse_event(event) for event in self.events)

    def reply(self, delay: float = 0.0) -> Scripted:
        """One chunk per event, as OpenAI paces them."""
        chunks = [sse_event(event) for event in self.events]
        return Scripted(content_type="text/event-stream", chunks=chunks, delay=delay)


def sse_event(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


# ---------------------------------------------------------------------------------------------------------------
# Replies for the end-to-end tests


def text_stream(text: str) -> Scripted:
    return ResponsesStream().created().text(text).completed().reply()


def tool_call_stream(call_id: str, name: str, arguments: dict[str, Any], reasoning: str | None = None) -> Scripted:
    stream = ResponsesStream().created()
    if reasoning is not None:
        stream.reasoning([f"Thinking about {name}"], reasoning)
    raw = json.dumps(arguments)
    return stream.function_call(call_id, name, raw, item_id="fc_" + call_id, count=4).completed().reply()


def text_response(text: str, reasoning: str | None = None) -> Scripted:
    output = [reasoning_item(["Short thought"], reasoning)] if reasoning is not None else []
    output.append(message_item(text))
    return json_reply(response_object(output, usage_=usage(40, 7, cached=30, reasoning=3)))


def input_items(body: Any, kind: str) -> list[dict[str, Any]]:
    """The `input` items of one type in a Responses request the fake received."""
    items = body.get("input") if isinstance(body, dict) else None
    return [item for item in items or [] if isinstance(item, dict) and item.get("type") == kind]
