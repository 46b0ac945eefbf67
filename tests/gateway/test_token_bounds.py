"""The bounds on token counting: caches by bytes, large texts by digest, exact work per body, and large bodies
counted off the event loop (the service-level checks are in tests/security/test_big_bodies.py)."""

from __future__ import annotations

import asyncio
import random
import string
import threading
from typing import Any

import pytest

from ccrouter import tokens
from ccrouter.gateway import counting

_rng = random.Random(5)
_WORDS = ["".join(_rng.choices(string.ascii_lowercase + "éü中", k=_rng.randint(1, 9))) for _ in range(3000)]


def words(chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choices(_WORDS, k=chars // 4))[:chars]


def exact(text: str) -> int:
    return len(tokens._get_encoder().encode_ordinary(text))


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    tokens.TEXT_COUNTS.clear()
    tokens.TOOLS_COUNTS.clear()


def test_large_texts_are_counted_as_tiktoken_counts_them() -> None:
    texts = [
        words(200_000),  # non-ASCII words: the GIL-free buffer path
        "<|endoftext|> special tokens count as text " * 3000,
        "a\ud800b" * 30_000,  # a lone surrogate, as tiktoken.Encoding replaces it
    ]
    for text in texts:
        assert len(text) > tokens.LARGE_TEXT_CHARS
        fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        assert tokens.count_text(text) == exact(fixed)


def test_a_large_text_is_cached_by_digest_not_kept() -> None:
    text = words(500_000, seed=1)
    count = tokens.count_text(text)
    assert tokens.count_text(words(500_000, seed=1)) == count  # an equal text, another object: from the cache
    assert tokens.TEXT_COUNTS.added == 1
    assert tokens.TEXT_COUNTS.size < 1000  # a digest, not half a megabyte of text


def test_the_text_cache_is_bounded_by_bytes() -> None:
    cache = tokens.CountCache(max_bytes=100_000)
    for i in range(100):
        cache.put(f"{i:04d}" + "x" * 10_000, i)
    assert cache.size <= 100_000
    assert 5 <= len(cache) <= 10  # ~10 KB a key: the oldest were dropped
    assert cache.get("0099" + "x" * 10_000) == 99 and cache.get("0000" + "x" * 10_000) is None


def test_each_body_encodes_at_most_its_exact_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[int] = []
    real = tokens._encode_count
    monkeypatch.setattr(tokens, "_encode_count", lambda text: encoded.append(len(text)) or real(text))
    budget = 300_000
    monkeypatch.setattr(tokens, "EXACT_CHARS", budget)
    blocks = [words(100_000, seed=10 + i) for i in range(8)]  # 800,000 characters in all
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": t} for t in blocks]}]}
    estimate = tokens.estimate_tokens(body)
    assert sum(encoded) == budget
    truth = sum(exact(t) for t in blocks)
    assert abs(estimate - truth) < truth * 0.02, (estimate, truth)


def test_a_text_past_the_budget_is_estimated_from_its_counted_head(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "EXACT_CHARS", 100_000)
    text = words(600_000, seed=3)
    estimate = tokens.estimate_tokens({"messages": [{"role": "user", "content": text}]})
    assert abs(estimate - exact(text)) < exact(text) * 0.02
    assert tokens.TEXT_COUNTS.added == 0  # an estimate is not cached as a count


def test_tools_counted_under_an_estimate_are_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "EXACT_CHARS", 1000)
    tools = [{"name": "Big", "description": words(50_000, seed=4), "input_schema": {"type": "object"}}]
    tokens.estimate_tokens({"tools": tools, "messages": []})
    assert len(tokens.TOOLS_COUNTS) == 0
    monkeypatch.setattr(tokens, "EXACT_CHARS", 10_000_000)
    tokens.estimate_tokens({"tools": tools, "messages": []})
    assert len(tokens.TOOLS_COUNTS) == 1


def test_session_counts_are_bounded_by_the_bytes_of_their_requests() -> None:
    cache = tokens.SessionCountsCache(capacity=16, max_bytes=10_000)
    kept = [cache.get(f"s{i}", 3_000) for i in range(5)]
    assert len(cache) == 3 and cache.size == 9_000  # the two oldest were dropped to stay within 10,000 bytes
    assert cache.get("s4", 3_000) is kept[4]
    assert cache.get("s0", 3_000) is not kept[0]
    assert cache.get("huge", 20_000) is None  # larger than the whole budget: not kept at all
    assert cache.get("s4", 20_000) is None and cache.get("s4", 100) is not kept[4]  # and what it had is dropped


def test_small_bodies_are_counted_on_the_loop_and_large_ones_in_the_counting_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[str] = []

    def estimate(body: dict[str, Any], session: tokens.SessionCounts | None = None) -> int:
        threads.append(threading.current_thread().name)
        return 7

    monkeypatch.setattr(counting, "estimate_tokens", estimate)

    async def both() -> tuple[int, int]:
        small = await counting.estimate_body({}, counting.OFF_LOOP_BODY_BYTES)
        large = await counting.estimate_body({}, counting.OFF_LOOP_BODY_BYTES + 1)
        return small, large

    assert asyncio.run(both()) == (7, 7)
    assert threads[0] == threading.main_thread().name
    assert threads[1].startswith("ccr-count")
