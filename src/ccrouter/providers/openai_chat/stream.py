"""OpenAI chat completion chunks -> Anthropic stream events: a synchronous state machine.

Anthropic content blocks cannot interleave, while OpenAI streams parallel tool calls interleaved by `index`,
each with its arguments in fragments. So one block is open at a time, and a tool-use block stays open until its
arguments form a complete JSON object (or the stream ends): until then, anything else that arrives (text,
reasoning, other tool calls and their fragments) waits in arrival order and is emitted once the block closes.
No fragment is dropped, except text after a call's JSON object was already complete: that can only be
whitespace or garbage that would make the arguments invalid for the client.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from ccrouter.errors import error_body
from ccrouter.providers.base import SYNTHETIC_THINKING_SIGNATURE, Usage, new_id
from ccrouter.providers.openai_chat.json_text import CONTROL, JsonStringEscaper
from ccrouter.providers.openai_chat.refusals import with_capability_hint
from ccrouter.providers.openai_chat.response import (
    message_id,
    read_usage,
    reasoning_text,
    stop_reason,
    tool_id,
    unique_tool_id,
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
from ccrouter.tokens import count_output

PROVIDER_FAILED = "The provider ended its stream with an error. Try again."


class _ToolCall:
    __slots__ = ("args", "block", "checked", "closed", "complete", "escaper", "id", "name", "provider_id")

    def __init__(self, call_id: str, name: str, provider_id: str | None) -> None:
        self.id = call_id  # the Anthropic tool_use id: the provider's, unless it repeated one
        self.provider_id = provider_id  # what the provider sent, if anything
        self.name = name
        self.args: list[str] = []
        self.block = -1  # the Anthropic block index once opened
        self.closed = False
        self.checked = 0  # len(args) when `complete` was last computed
        self.complete = False
        self.escaper: JsonStringEscaper | None = None  # once a control character has appeared in the arguments

    def is_complete(self) -> bool:
        """Whether the arguments so far form a complete JSON object (checked only when something waits)."""
        if self.checked != len(self.args):
            self.checked = len(self.args)
            tail = self.args[-1].rstrip() if self.args else ""
            if not tail and self.args:
                tail = "".join(self.args).rstrip()
            self.complete = tail.endswith("}") and _is_json("".join(self.args))
        return self.complete


def _mended(call: _ToolCall, arguments: str) -> str:
    """The fragment with raw control characters inside JSON strings escaped (see `json_text`)."""
    if call.escaper is None:
        if CONTROL.search(arguments) is None:
            return arguments
        call.escaper = JsonStringEscaper()
        call.escaper.feed("".join(call.args))  # where the text so far leaves off
    return call.escaper.feed(arguments)


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


class StreamState(Protocol):
    """What the stream translator drives: a `ChatStreamState`, or one behind the tweaks' chunk filters."""

    @property
    def usage(self) -> Usage: ...

    @property
    def stop_reason(self) -> str | None: ...

    @property
    def ended(self) -> bool: ...

    def feed(self, chunk: dict[str, Any]) -> list[Event]: ...

    def finish(self) -> list[Event]: ...

    def fail(self, error_type: str, message: str) -> list[Event]: ...


class ChatStreamState:
    """Feed it parsed chunks; it returns Anthropic `(event name, event data)` pairs."""

    def __init__(
        self,
        model: str,
        input_tokens: int,
        *,
        make_id: Callable[[], str] = new_id,
        signature: str = SYNTHETIC_THINKING_SIGNATURE,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.model = model
        self._redact = redact  # applied to error messages, which may quote the provider (and its key)
        self.usage = Usage(input_tokens=input_tokens)
        self.stop_reason: str | None = None
        self.ended = False  # finished or failed: further input is ignored
        self._make_id = make_id
        self._signature = signature
        self._started = False
        self._usage_seen = False
        self._finish_reason: str | None = None
        self._index = -1  # the last Anthropic block index used
        self._open: str | None = None  # "text" | "thinking" | "tool"
        self._current: _ToolCall | None = None  # the open tool-use block's call
        self._calls: dict[int, _ToolCall] = {}  # by OpenAI `index`
        self._last_call: _ToolCall | None = None
        self._tool_ids: set[str] = set()  # tool_use ids given out: Anthropic requires them distinct
        self._all_calls: list[_ToolCall] = []
        self._written: list[str] = []  # text and thinking sent, to count when the provider reports no usage
        self._waiting: deque[tuple[str, Any]] = deque()  # ("text"|"thinking", [str]) or ("tool", _ToolCall)

    # -- public -------------------------------------------------------------------------------------------

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        if self.ended:
            return []
        text = self._more_text(chunk)
        if text is not None:
            if not text:
                return []
            self._written.append(text)
            return [block_delta(self._index, {"type": "text_delta", "text": text})]
        error = chunk.get("error")
        if error is not None:
            return self.fail(*_stream_error(error))
        out: list[Event] = []
        if read_usage(chunk.get("usage"), self.usage):
            self._usage_seen = True
        if not self._started:
            self._start(chunk.get("id"), out)
        choices = chunk.get("choices")
        if not choices or not isinstance(choices, list):
            return out
        choice = choices[0]
        if not isinstance(choice, dict):
            return out
        delta = choice.get("delta")
        if isinstance(delta, dict):
            self._delta(delta, out)
        finish = choice.get("finish_reason")
        if finish == "error":
            out += self.fail("api_error", PROVIDER_FAILED)
        elif isinstance(finish, str) and finish:
            self._finish_reason = finish
            self.stop_reason = stop_reason(finish, self._last_call is not None)
        return out

    def _more_text(self, chunk: dict[str, Any]) -> str | None:
        """The text of a chunk that only continues the open text block (most chunks of most streams), else None.

        What `feed` would do with such a chunk in full, taken as a shortcut: no usage, no finish reason, no
        reasoning or tool calls, a text block open and nothing waiting behind a tool call.
        """
        if self._open != "text" or self._waiting or chunk.get("usage") is not None or "error" in chunk:
            return None
        choices = chunk.get("choices")
        if type(choices) is not list or len(choices) != 1:
            return None
        choice = choices[0]
        if type(choice) is not dict or choice.get("finish_reason") is not None:
            return None
        delta = choice.get("delta")
        if type(delta) is not dict or len(delta) > 2 or (len(delta) == 2 and "role" not in delta):
            return None
        content = delta.get("content")
        return content if type(content) is str else None

    def finish(self) -> list[Event]:
        """The upstream stream ended (`[DONE]` or EOF): close the message, or report it as cut short."""
        if self.ended:
            return []
        if self._finish_reason is None:
            return self.fail("api_error", CUT_SHORT)
        self.ended = True
        out: list[Event] = []
        if not self._started:
            self._start(None, out)
        self._drain(out, force=True)
        self._close(out)
        if not self._usage_seen:  # some servers (llama-cpp-python) never report usage in a stream: count it
            self.usage.output_tokens = count_output(self._written, ("".join(c.args) for c in self._all_calls))
        return out + message_end(self.stop_reason, self.usage, self._usage_seen)

    def fail(self, error_type: str, message: str) -> list[Event]:
        """End the stream with an `error` event (never a successful-looking truncated reply)."""
        if self.ended:
            return []
        self.ended = True
        return [("error", error_body(error_type, self._redact(message)))]

    # -- chunks -------------------------------------------------------------------------------------------

    def _start(self, provider_id: Any, out: list[Event]) -> None:
        self._started = True
        out.append(message_start(message_id(provider_id, self._make_id), self.model, self.usage))

    def _delta(self, delta: dict[str, Any], out: list[Event]) -> None:
        thinking = reasoning_text(delta)
        if thinking:
            self._piece("thinking", thinking, out)
        content = delta.get("content")
        if isinstance(content, str):
            if content:
                self._piece("text", content, out)
        elif isinstance(content, list):  # Mistral: a list of text / thinking parts
            for part in content:
                if isinstance(part, dict):
                    kind, text = _part_text(part)
                    if text:
                        self._piece(kind, text, out)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                if isinstance(call, dict):
                    self._tool_delta(call, out)

    def _piece(self, kind: str, text: str, out: list[Event]) -> None:
        """Text or thinking: append to the open block of that kind, open one, or wait behind a tool call."""
        if self._open != kind or self._waiting:
            if not self._can_switch(out):
                last = self._waiting[-1] if self._waiting else None
                if last is not None and last[0] == kind:
                    last[1].append(text)
                else:
                    self._waiting.append((kind, [text]))
                return
            if self._open != kind:
                self._close(out)
                self._open_block(kind, out)
        self._block_delta(kind, text, out)

    def _tool_delta(self, delta: dict[str, Any], out: list[Event]) -> None:
        function = delta.get("function")
        if not isinstance(function, dict):
            function = {}
        name = function.get("name")
        arguments = function.get("arguments")
        given = delta.get("id")
        has_id = isinstance(given, (str, int)) and not isinstance(given, bool) and given != ""
        index = delta.get("index")
        if isinstance(index, int):
            call = self._calls.get(index)
            if call is not None and has_id and call.provider_id is not None and str(given) != call.provider_id:
                call = None  # a new call at a reused index
        else:  # servers that omit `index`: an id or a name starts a new call
            index = None
            call = None if has_id or (isinstance(name, str) and name) else self._last_call
        if call is None:
            call_id = unique_tool_id(tool_id(given, self._make_id), self._tool_ids)
            call = _ToolCall(call_id, name if isinstance(name, str) else "", str(given) if has_id else None)
            if index is not None:
                self._calls[index] = call
            self._last_call = call
            self._all_calls.append(call)
            if isinstance(arguments, str) and arguments:
                call.args.append(_mended(call, arguments))
            if call.name and self._can_switch(out):
                self._close(out)
                self._open_tool(call, out)
            else:
                self._waiting.append(("tool", call))
            return
        if call.block < 0 and not call.name and isinstance(name, str) and name:
            call.name = name  # the name came after the first fragment
        if isinstance(arguments, str) and arguments:
            arguments = _mended(call, arguments)
            if call is self._current:
                call.args.append(arguments)
                out.append(block_delta(call.block, {"type": "input_json_delta", "partial_json": arguments}))
            elif call.closed:
                return  # its JSON object was complete already; see the module docstring
            else:
                call.args.append(arguments)
        if self._waiting:
            self._drain(out, force=False)

    # -- blocks -------------------------------------------------------------------------------------------

    def _can_switch(self, out: list[Event]) -> bool:
        """Emit what waits as far as possible; True when the open block may now be closed for a new one."""
        if self._waiting:
            self._drain(out, force=False)
            if self._waiting:
                return False
        return self._current is None or self._current.is_complete()

    def _drain(self, out: list[Event], force: bool) -> None:
        while self._waiting:
            if not force and self._current is not None and not self._current.is_complete():
                return
            kind, item = self._waiting[0]
            if kind == "tool" and not item.name and not force:
                return
            self._waiting.popleft()
            if kind == "tool":
                self._close(out)
                self._open_tool(item, out)
            else:
                if self._open != kind:
                    self._close(out)
                    self._open_block(kind, out)
                self._block_delta(kind, "".join(item), out)

    def _open_block(self, kind: str, out: list[Event]) -> None:
        self._index += 1
        self._open = kind
        out.append(empty_block_start(self._index, kind))

    def _open_tool(self, call: _ToolCall, out: list[Event]) -> None:
        self._index += 1
        self._open = "tool"
        self._current = call
        call.block = self._index
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        out.append(block_start(self._index, block))
        if call.args:
            buffered = "".join(call.args)
            call.args = [buffered]
            call.checked = 0
            out.append(block_delta(call.block, {"type": "input_json_delta", "partial_json": buffered}))

    def _block_delta(self, kind: str, text: str, out: list[Event]) -> None:
        self._written.append(text)
        if kind == "text":
            out.append(block_delta(self._index, {"type": "text_delta", "text": text}))
        else:
            out.append(block_delta(self._index, {"type": "thinking_delta", "thinking": text}))

    def _close(self, out: list[Event]) -> None:
        if self._open is None:
            return
        if self._open == "thinking":
            out.append(block_delta(self._index, {"type": "signature_delta", "signature": self._signature}))
        elif self._current is not None:
            self._current.closed = True
            self._current = None
        out.append(block_stop(self._index))
        self._open = None


def _part_text(part: dict[str, Any]) -> tuple[str, str]:
    if part.get("type") == "thinking":
        inner = part.get("thinking")
        if isinstance(inner, list):
            return "thinking", "".join(p.get("text", "") for p in inner if isinstance(p, dict))
        return "thinking", inner if isinstance(inner, str) else ""
    text = part.get("text")
    return "text", text if isinstance(text, str) else ""


def _stream_error(error: Any) -> tuple[str, str]:
    """A provider's in-stream `error` object -> (Anthropic error type, message)."""
    if isinstance(error, dict):
        message = error.get("message")
        text = message if isinstance(message, str) and message else orjson.dumps(error).decode()[:500]
        code = error.get("code") or error.get("status")
        hint = f"{error.get('type', '')} {code}".lower()
    else:
        text = str(error)[:500]
        code, hint = None, text.lower()
    if code in (429, "429") or "rate" in hint or "quota" in hint:
        kind = "rate_limit_error"
    elif code in (503, 529, "503", "529") or "overload" in hint or "unavailable" in hint:
        kind = "overloaded_error"
    else:
        kind = "api_error"
    return kind, with_capability_hint(f"The provider sent an error in its stream: {text}")
