"""`enhancetool`: tool-call arguments that are not valid JSON are mended (json-repair) before the client sees them.

Streamed, a call's argument fragments are held back and passed on as one repaired piece once the call is
complete, so the client gets a single `input_json_delta` holding a valid JSON object. (CCR's version follows
only the first call of each chunk, so parallel calls in one chunk lose their arguments, and it sends
unrepairable text through as it is.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ccrouter.providers.openai_chat.tweaks.hooks import JSON, Tweak, finish_split, first_choice


def enhancetool(options: Mapping[str, Any] | None) -> Tweak:
    return Tweak(completion=repair_completion, stream=RepairArguments)


def repair_arguments(text: str) -> str:
    """Arguments as the text of a JSON object: a valid object as it is, a broken one mended (trailing commas,
    single quotes, missing quotes or braces, a cut-off end, comments), and text beyond repair kept as
    `{"_raw": text}` (as the translation keeps it without this tweak), so the client always gets an object."""
    if not text.strip():
        return "{}"
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = _repaired(text)
    else:
        if isinstance(value, dict):
            return text
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return orjson.dumps({"_raw": text}).decode()


def _repaired(text: str) -> Any:
    from json_repair import loads  # imported on first need: it costs ~70 ms, and most arguments are valid JSON

    try:
        return loads(text)
    except (ValueError, RecursionError):
        return None


def repair_completion(completion: JSON) -> JSON:
    choice = first_choice(completion)
    message = choice.get("message") if choice else None
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            function["arguments"] = repair_arguments(function["arguments"])
    return completion


class RepairArguments:
    """Passes each tool call's start (id, name) on at once, so its block opens, and holds its argument fragments
    until the call is complete: at the `finish_reason`, when its `index` is reused by another call, or, for
    servers that omit `index`, when the next call starts. Then one chunk carries the repaired arguments."""

    __slots__ = ("_chunk_id", "_held", "_ids", "_loose")

    def __init__(self) -> None:
        self._held: dict[int, list[str]] = {}  # by OpenAI index, in order of arrival
        self._ids: dict[int, str] = {}
        self._loose: list[str] | None = None  # the current call of a server that omits `index`
        self._chunk_id: Any = None

    def feed(self, chunk: JSON) -> list[JSON]:
        choice = first_choice(chunk)
        if choice is None:
            return [chunk]
        self._chunk_id = chunk.get("id", self._chunk_id)
        out: list[JSON] = []
        delta = choice.get("delta")
        calls = delta.get("tool_calls") if isinstance(delta, dict) else None
        if isinstance(delta, dict) and isinstance(calls, list) and calls:
            kept = [call for call in (self._take(call, out) for call in calls) if call is not None]
            new_delta = {k: v for k, v in delta.items() if k != "tool_calls"}
            if kept:
                new_delta["tool_calls"] = kept
            choice = {**choice, "delta": new_delta}
            chunk = {**chunk, "choices": [choice, *chunk["choices"][1:]]}
        if choice.get("finish_reason") and (self._held or self._loose is not None):
            body, end = finish_split(chunk, choice)
            return [*out, body, *self.flush(), end]
        out.append(chunk)
        return out

    def _take(self, call: Any, out: list[JSON]) -> Any:
        """Hold the call's arguments; returns the call without them (None when nothing else is left)."""
        if not isinstance(call, dict):
            return call
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        arguments = function.get("arguments")
        call_id = call.get("id")
        starts = bool(call_id) or bool(function.get("name"))
        index = call.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            if starts and index in self._held and call_id and self._ids.get(index) not in (None, str(call_id)):
                out.append(self._release(index, self._held.pop(index)))  # a new call at a reused index
            parts = self._held.setdefault(index, [])
            if call_id:
                self._ids[index] = str(call_id)
        else:
            if starts and self._loose is not None:
                out.append(self._release(None, self._loose))
                self._loose = None
            if self._loose is None:
                self._loose = []
            parts = self._loose
        if isinstance(arguments, str) and arguments:
            parts.append(arguments)
        if not starts:
            return None  # only arguments: held
        rest = {k: v for k, v in function.items() if k != "arguments"}
        return {**call, "function": rest}

    def _release(self, index: int | None, parts: list[str]) -> JSON:
        call: JSON = {"function": {"arguments": repair_arguments("".join(parts))}}
        if index is not None:
            call["index"] = index
        return {"id": self._chunk_id, "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}

    def flush(self) -> list[JSON]:
        out = [self._release(index, parts) for index, parts in self._held.items()]
        self._held.clear()
        if self._loose is not None:
            out.append(self._release(None, self._loose))
            self._loose = None
        return out
