"""Reasoning written into the text between tags, turned into thinking: `extrathinktag` and `forcereasoning`.

`extrathinktag`: models served without a reasoning parser (many local servers) answer `<think>...</think>` and
then the reply. `forcereasoning`: models without reasoning are asked to write `<reasoning_content>...
</reasoning_content>` before answering, and their earlier thinking is shown to them in that form.

The tags are recognised at the start of the reply (after any whitespace), also when a stream splits them across
chunks; a tag anywhere else is plain text the model wrote. (CCR's versions look for the tag anywhere and drop all
text before it, so a reply without the tag is lost entirely when streamed.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ccrouter.providers.openai_chat.response import reasoning_text
from ccrouter.providers.openai_chat.tweaks.hooks import (
    JSON,
    CompletionHook,
    Tweak,
    content_chunk,
    finish_split,
    first_choice,
)

THINK_TAGS = ("<think>", "</think>")
REASONING_TAGS = ("<reasoning_content>", "</reasoning_content>")

FORCE_PROMPT = (
    "Always think before answering. Even if the problem seems simple, always write down your reasoning process "
    "explicitly.\n\nOutput format:\n<reasoning_content>\nYour detailed thinking process goes here\n"
    "</reasoning_content>\nYour final answer must follow after the closing tag above."
)
MAX_ECHOED_THINKING = 10  # assistant turns whose thinking is shown back to the model, newest first (as CCR)


def extrathinktag(options: Mapping[str, Any] | None) -> Tweak:
    open_tag, close_tag = THINK_TAGS
    return Tweak(completion=split_completion(open_tag, close_tag), stream=lambda: TagFilter(open_tag, close_tag))


def forcereasoning(options: Mapping[str, Any] | None) -> Tweak:
    open_tag, close_tag = REASONING_TAGS
    return Tweak(
        request=ask_for_reasoning,
        completion=split_completion(open_tag, close_tag),
        stream=lambda: TagFilter(open_tag, close_tag),
    )


def ask_for_reasoning(request: JSON, body: JSON) -> JSON:
    """Earlier thinking goes back in the tags (the newest turns), and the last user turn asks for them. The prompt
    follows the user's text (CCR puts it before a plain-text turn and after a block list)."""
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        return request
    echoed = 0
    for message in reversed(messages):
        if message.get("role") != "assistant" or "reasoning_content" not in message:
            continue
        thinking = message.pop("reasoning_content")
        content = message.get("content") or ""
        if thinking and (echoed < MAX_ECHOED_THINKING or not content):
            echoed += 1
            message["content"] = f"{REASONING_TAGS[0]}{thinking}{REASONING_TAGS[1]}\n{content}"
    last = messages[-1]
    if last.get("role") == "user":
        content = last.get("content")
        if isinstance(content, list):
            last["content"] = [*content, {"type": "text", "text": FORCE_PROMPT}]
        else:
            last["content"] = f"{content}\n\n{FORCE_PROMPT}" if content else FORCE_PROMPT
    elif last.get("role") == "tool":
        messages.append({"role": "user", "content": FORCE_PROMPT})
    return request


def split_text(text: str, open_tag: str, close_tag: str) -> tuple[str, str] | None:
    """(reasoning, reply) of a complete text that starts with `open_tag`; None when it does not. A reply cut
    off inside the reasoning (max_tokens) is all reasoning."""
    stripped = text.lstrip()
    if not stripped.startswith(open_tag):
        return None
    rest = stripped[len(open_tag) :]
    end = rest.find(close_tag)
    if end < 0:
        return rest.strip(), ""
    return rest[:end].strip(), rest[end + len(close_tag) :].lstrip()


def split_completion(open_tag: str, close_tag: str) -> CompletionHook:
    def hook(completion: JSON) -> JSON:
        choice = first_choice(completion)
        message = choice.get("message") if choice else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(message, dict) or not isinstance(content, str):
            return completion
        parts = split_text(content, open_tag, close_tag)
        if parts is None:
            return completion
        thinking, reply = parts
        if thinking:
            before = reasoning_text(message)
            message["reasoning_content"] = f"{before}\n\n{thinking}" if before else thinking
        message["content"] = reply
        return completion

    return hook


_START, _OPENING, _INSIDE, _AFTER, _TEXT = range(5)


class TagSplitter:
    """Streamed text -> (reasoning, reply) pieces, for a reply that may start with `open_tag`...`close_tag`.

    Holds back only what may still turn out to be part of a tag, and the whitespace around the tags."""

    __slots__ = ("_close", "_held", "_open", "state")

    def __init__(self, open_tag: str, close_tag: str) -> None:
        self._open = open_tag
        self._close = close_tag
        self.state = _START
        self._held = ""

    @property
    def done(self) -> bool:
        """Everything from now on is reply text, passed on as it comes."""
        return self.state == _TEXT

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def feed(self, text: str) -> tuple[str, str]:
        if self.state == _TEXT:
            return "", text
        text = self._held + text
        self._held = ""
        reasoning = ""
        if self.state == _START:
            stripped = text.lstrip()
            if stripped.startswith(self._open):
                self.state = _OPENING
                text = stripped[len(self._open) :]
            elif self._open.startswith(stripped):  # nothing but whitespace and a part of the tag, so far
                self._held = text
                return "", ""
            else:
                self.state = _TEXT
                return "", text
        if self.state == _OPENING:  # the whitespace after the opening tag is not reasoning
            text = text.lstrip()
            if not text:
                return "", ""
            self.state = _INSIDE
        if self.state == _INSIDE:
            end = text.find(self._close)
            if end < 0:
                keep = _partial_tag(text, self._close)
                self._held = text[len(text) - keep :] if keep else ""
                return text[: len(text) - keep], ""
            reasoning = text[:end]
            text = text[end + len(self._close) :]
            self.state = _AFTER
        if self.state == _AFTER:  # the whitespace between the closing tag and the reply is dropped
            text = text.lstrip()
            if not text:
                return reasoning, ""
            self.state = _TEXT
        return reasoning, text

    def flush(self) -> tuple[str, str]:
        held, self._held = self._held, ""
        if not held:
            return "", ""
        if self.state == _INSIDE:
            return held, ""
        return "", held  # _START: what looked like the start of a tag was text


def _partial_tag(text: str, tag: str) -> int:
    """The length of the longest end of `text` that is a beginning of `tag` (a tag split across chunks)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class TagFilter:
    """Streams: `content` before the closing tag becomes `reasoning_content`, the rest stays content. Once the
    reply is known to be plain text, chunks pass through untouched."""

    __slots__ = ("_chunk_id", "_split")

    def __init__(self, open_tag: str, close_tag: str) -> None:
        self._split = TagSplitter(open_tag, close_tag)
        self._chunk_id: Any = None

    def feed(self, chunk: JSON) -> list[JSON]:
        if self._split.done:
            return [chunk]
        choice = first_choice(chunk)
        if choice is None:
            return [chunk]
        self._chunk_id = chunk.get("id", self._chunk_id)
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(delta, dict) and isinstance(content, str) and content:
            reasoning, reply = self._split.feed(content)
            new_delta = {k: v for k, v in delta.items() if k != "content"}
            if reasoning:
                before = reasoning_text(new_delta)
                new_delta["reasoning_content"] = before + reasoning
            if reply:
                new_delta["content"] = reply
            choice = {**choice, "delta": new_delta}
            chunk = {**chunk, "choices": [choice, *chunk["choices"][1:]]}
        if choice.get("finish_reason") and self._split.holding:
            body, end = finish_split(chunk, choice)
            return [body, *self.flush(), end]
        return [chunk]

    def flush(self) -> list[JSON]:
        reasoning, reply = self._split.flush()
        if not reasoning and not reply:
            return []
        return [content_chunk(self._chunk_id, reply, reasoning)]
