"""The shapes of a tweak: which seams it hooks, and the chunk-filter protocol for streams."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

JSON = dict[str, Any]

BodyHook = Callable[[JSON], JSON]
"""Anthropic body -> Anthropic body. The body is the client's: copy what you change, never mutate it."""

RequestHook = Callable[[JSON, JSON], JSON]
"""(chat request, Anthropic body) -> chat request. The request's own dicts and lists may be changed in place,
but nested values may be shared with the Anthropic body (tool parameter schemas are): copy those to change them."""

CompletionHook = Callable[[JSON], JSON]
"""A non-streamed chat completion (freshly parsed, may be changed in place) -> chat completion."""


class ChunkFilter(Protocol):
    """One stream's filter of chat-completion chunks, made fresh for every stream."""

    def feed(self, chunk: JSON) -> list[JSON]:
        """A parsed chunk in; the chunks to pass on (none, the same one, changed ones or more)."""
        ...

    def flush(self) -> list[JSON]:
        """The stream ended: whatever the filter still holds, as chunks."""
        ...


@dataclass(frozen=True, slots=True)
class Tweak:
    """One transformer use: the hooks it needs, each optional."""

    body: BodyHook | None = None
    request: RequestHook | None = None
    completion: CompletionHook | None = None
    stream: Callable[[], ChunkFilter] | None = None


def first_choice(data: JSON) -> JSON | None:
    """`choices[0]` of a completion or chunk, when it is an object."""
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def finish_split(chunk: JSON, choice: JSON) -> tuple[JSON, JSON]:
    """A chunk that carries a `finish_reason`, split into (the chunk without it, a chunk with only it), so a
    filter can emit what it held back between the two."""
    finish = choice.get("finish_reason")
    body = {**chunk, "choices": [{**choice, "finish_reason": None}, *chunk["choices"][1:]]}
    end = {"id": chunk.get("id"), "choices": [{"index": choice.get("index", 0), "delta": {}, "finish_reason": finish}]}
    return body, end


def content_chunk(chunk_id: Any, content: str | None = None, reasoning: str | None = None) -> JSON:
    """A chunk carrying only text and/or reasoning."""
    delta: JSON = {}
    if reasoning:
        delta["reasoning_content"] = reasoning
    if content:
        delta["content"] = content
    return {"id": chunk_id, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
