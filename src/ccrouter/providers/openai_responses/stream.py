"""OpenAI Responses stream events -> Anthropic stream events: a synchronous state machine.

The provider streams output items (`reasoning`, `message`, `function_call`, ...) by `output_index`, each opened by
`response.output_item.added`, filled by deltas and closed by `response.output_item.done`. Each item becomes at most
one Anthropic content block, and Anthropic blocks cannot interleave: so the oldest unfinished item is the open
block, and deltas of later items (servers that run parallel calls side by side) wait, in order, until it is done.
A reasoning item's block is closed with its signature, which carries the encrypted reasoning (only complete in
`output_item.done`) to the next request. The stream ends with `response.completed` or `response.incomplete`;
`response.failed`, an `error` event, or an end without either becomes an Anthropic `error` event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from ccrouter.errors import error_body
from ccrouter.providers.base import Usage, new_id
from ccrouter.providers.openai_chat.response import message_id, tool_id
from ccrouter.providers.openai_responses.response import (
    error_text,
    error_type,
    message_text,
    read_usage,
    reasoning_signature,
    reasoning_text,
    stop_reason,
)
from ccrouter.providers.stream_events import (
    CUT_SHORT,
    Event,
    block_delta,
    block_start,
    block_stop,
    empty_block_start,
    message_end,
    message_start,
)

# Output item types that become blocks; the others (web_search_call, ...) ran at the provider and show nothing.
_KINDS = {"message": "text", "reasoning": "thinking", "function_call": "tool"}
# Delta events -> (the kind of item they belong to, the field with the piece).
_DELTAS = {
    "response.output_text.delta": "text",
    "response.refusal.delta": "text",
    "response.reasoning_summary_text.delta": "thinking",
    "response.reasoning_text.delta": "thinking",
    "response.function_call_arguments.delta": "tool",
}


class _Item:
    """One output item: the pieces received so far, and how far they reached the client."""

    __slots__ = ("block", "call_id", "done", "encrypted", "item_id", "kind", "name", "parts", "sent", "summary_index")

    def __init__(self, kind: str, item_id: str) -> None:
        self.kind = kind  # "text" | "thinking" | "tool"
        self.item_id = item_id
        self.call_id = ""
        self.name = ""
        self.parts: list[str] = []
        self.sent = 0  # parts[:sent] were emitted
        self.block = -1  # the Anthropic block index once opened
        self.done = False
        self.encrypted = ""
        self.summary_index: Any = None

    def complete(self, text: str) -> None:
        """The item's full text (from a `.done` event): add what the deltas missed."""
        known = "".join(self.parts)
        if text.startswith(known):
            if len(text) > len(known):
                self.parts.append(text[len(known) :])
        elif self.sent == 0:  # nothing shown yet: the final text wins
            self.parts = [text]


class ResponsesStreamState:
    """Feed it parsed events; it returns Anthropic `(event name, event data)` pairs."""

    def __init__(
        self,
        model: str,
        input_tokens: int,
        *,
        make_id: Callable[[], str] = new_id,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.model = model
        self._redact = redact  # applied to error messages, which quote the provider
        self.usage = Usage(input_tokens=input_tokens)
        self.stop_reason: str | None = None
        self.ended = False  # finished or failed: further input is ignored
        self._make_id = make_id
        self._started = False
        self._index = -1  # the last Anthropic block index used
        self._items: dict[int, _Item] = {}  # by output_index
        self._by_id: dict[str, _Item] = {}  # by item id, for events without output_index
        self._queue: deque[_Item] = deque()  # items not yet closed, oldest (the open block) first
        self._has_calls = False
        self._announced = False  # whether the stream itself brought any output item

    # -- public -------------------------------------------------------------------------------------------

    def feed(self, event: dict[str, Any]) -> list[Event]:
        if self.ended:
            return []
        kind = event.get("type")
        out: list[Event] = []
        if kind in _DELTAS:
            delta = event.get("delta")
            if isinstance(delta, str) and delta:
                if not self._started:
                    self._start(None, out)
                self._delta(kind, event, delta)
                self._pump(out)
            return out
        if kind in ("response.created", "response.in_progress", "response.queued"):
            if not self._started:
                response = event.get("response")
                self._start(response.get("id") if isinstance(response, dict) else None, out)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = event.get("item")
            if isinstance(item, dict):
                if not self._started:
                    self._start(None, out)
                self._output_item(event.get("output_index"), item, done=kind.endswith("done"), create=True)
                self._pump(out)
        elif kind == "response.function_call_arguments.done":
            item = self._item_for(event, "tool")
            if item is not None and isinstance(event.get("arguments"), str):
                item.complete(event["arguments"])
                self._pump(out)
        elif kind in ("response.completed", "response.incomplete"):
            response = event.get("response")
            out += self._complete(response if isinstance(response, dict) else {})
        elif kind == "response.failed":
            response = event.get("response")
            error = response.get("error") if isinstance(response, dict) else None
            code = error.get("code") if isinstance(error, dict) else None
            out += self.fail(error_type(code), f"The provider could not complete the response: {error_text(error)}")
        elif kind == "error":
            nested = event.get("error")
            error = nested if isinstance(nested, dict) else event
            message = f"The provider sent an error in its stream: {error_text(error)}"
            out += self.fail(error_type(error.get("code")), message)
        return out

    def finish(self) -> list[Event]:
        """The upstream stream ended: without `response.completed`/`incomplete`, the reply was cut short."""
        return self.fail("api_error", CUT_SHORT)

    def fail(self, error_kind: str, message: str) -> list[Event]:
        """End the stream with an `error` event (never a successful-looking truncated reply)."""
        if self.ended:
            return []
        self.ended = True
        return [("error", error_body(error_kind, self._redact(message)))]

    # -- events -------------------------------------------------------------------------------------------

    def _start(self, provider_id: Any, out: list[Event]) -> None:
        self._started = True
        out.append(message_start(message_id(provider_id, self._make_id), self.model, self.usage))

    def _item_for(self, event: dict[str, Any], kind: str) -> _Item | None:
        """The item an event names (by output_index, else item_id); an unknown one of `kind` is created, for
        servers that send deltas without announcing the item."""
        index = event.get("output_index")
        item = self._items.get(index) if isinstance(index, int) else None
        if item is None:
            item_id = event.get("item_id")
            item = self._by_id.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            item = self._add(index, kind, event.get("item_id"))
        return item if item.kind == kind else None

    def _add(self, index: Any, kind: str, item_id: Any) -> _Item:
        item = _Item(kind, item_id if isinstance(item_id, str) else "")
        if isinstance(index, int):
            self._items[index] = item
        if item.item_id:
            self._by_id[item.item_id] = item
        self._queue.append(item)
        self._announced = True
        return item

    def _delta(self, event_type: str, event: dict[str, Any], delta: str) -> None:
        item = self._item_for(event, _DELTAS[event_type])
        if item is None or item.done:
            return
        if event_type == "response.reasoning_summary_text.delta":
            index = event.get("summary_index")
            if item.summary_index is not None and index != item.summary_index and item.parts:
                item.parts.append("\n\n")  # summary parts are separate paragraphs
            item.summary_index = index
        item.parts.append(delta)

    def _output_item(self, index: Any, data: dict[str, Any], done: bool, create: bool) -> None:
        kind = _KINDS.get(str(data.get("type")))
        if kind is None:
            return
        item = self._items.get(index) if isinstance(index, int) else None
        if item is None and isinstance(data.get("id"), str):
            item = self._by_id.get(data["id"])
        if item is None:
            if not create:
                return
            item = self._add(index, kind, data.get("id"))
        elif item.kind != kind or item.done:
            return
        if kind == "tool":
            item.call_id = item.call_id or _str(data.get("call_id"))
            item.name = item.name or _str(data.get("name"))
        if not done:
            if kind == "tool" and _str(data.get("arguments")):
                item.complete(data["arguments"])
            return
        if kind == "text":
            item.complete(message_text(data))
        elif kind == "thinking":
            item.complete(reasoning_text(data))
            item.encrypted = _str(data.get("encrypted_content"))
            item.item_id = item.item_id or _str(data.get("id"))
        else:
            item.complete(_str(data.get("arguments")))
        item.done = True

    def _complete(self, response: dict[str, Any]) -> list[Event]:
        """`response.completed` / `response.incomplete`: close every item and the message."""
        out: list[Event] = []
        if not self._started:
            self._start(response.get("id"), out)
        output = response.get("output")
        announced = self._announced
        for index, item in enumerate(output if isinstance(output, list) else ()):
            if isinstance(item, dict):  # items the stream did not finish, or all of them if it streamed none
                self._output_item(index, item, done=True, create=not announced)
        self._pump(out, force=True)
        usage_seen = read_usage(response.get("usage"), self.usage)
        self.stop_reason = stop_reason(response.get("status"), response.get("incomplete_details"), self._has_calls)
        self.ended = True
        return out + message_end(self.stop_reason, self.usage, usage_seen)

    # -- blocks -------------------------------------------------------------------------------------------

    def _pump(self, out: list[Event], force: bool = False) -> None:
        """Emit what the oldest items have; close each that is done (every one, when `force`)."""
        while self._queue:
            item = self._queue[0]
            self._show(item, out)
            if not (item.done or force):
                return
            self._close(item, out)
            self._queue.popleft()

    def _show(self, item: _Item, out: list[Event]) -> None:
        pending = "".join(item.parts[item.sent :])
        item.sent = len(item.parts)
        if item.block < 0 and (pending or item.kind == "tool"):
            self._open(item, out)
        if pending:
            if item.kind == "text":
                delta = {"type": "text_delta", "text": pending}
            elif item.kind == "thinking":
                delta = {"type": "thinking_delta", "thinking": pending}
            else:
                delta = {"type": "input_json_delta", "partial_json": pending}
            out.append(block_delta(item.block, delta))

    def _open(self, item: _Item, out: list[Event]) -> None:
        self._index += 1
        item.block = self._index
        if item.kind != "tool":
            out.append(empty_block_start(item.block, item.kind))
            return
        self._has_calls = True
        call_id = tool_id(item.call_id or None, self._make_id)
        out.append(block_start(item.block, {"type": "tool_use", "id": call_id, "name": item.name, "input": {}}))

    def _close(self, item: _Item, out: list[Event]) -> None:
        if item.kind == "thinking" and (item.block >= 0 or item.encrypted):
            if item.block < 0:  # nothing to show, but the encrypted reasoning must reach the next request
                self._open(item, out)
            signature = reasoning_signature(item.item_id, item.encrypted)
            out.append(block_delta(item.block, {"type": "signature_delta", "signature": signature}))
        if item.block >= 0:
            out.append(block_stop(item.block))


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
