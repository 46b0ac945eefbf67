"""Request parameters: token caps, sampling, stream options, cache_control, custom parameters, reasoning switches.

Behaviour as CCR's transformers of the same names (@musistudio/llms), with their bugs fixed where noted.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ccrouter.config.scalars import number, positive_int
from ccrouter.config.transformers import SAMPLING_KEYS, max_tokens_option
from ccrouter.providers.openai_chat.tweaks.hooks import JSON, Tweak

_TOKEN_KEYS = ("max_tokens", "max_completion_tokens")


def cap_tokens(request: JSON, limit: int) -> None:
    """Lower the output-token limit to `limit`, whichever key holds it (so the order of `maxtoken` and
    `maxcompletiontokens` in a chain does not matter); a smaller request is left alone."""
    for key in _TOKEN_KEYS:
        value = request.get(key)
        if isinstance(value, int) and value > limit:
            request[key] = limit


def maxtoken(options: Mapping[str, Any] | None) -> Tweak:
    """`["maxtoken", {"max_tokens": N}]`: cap the output tokens at N. (Some CCR versions set max_tokens to N
    unconditionally, raising a smaller request to N; this caps, as a limit should.)"""
    limit = max_tokens_option(options)
    assert limit is not None  # checked when the config loaded

    def hook(request: JSON, body: JSON) -> JSON:
        cap_tokens(request, limit)
        return request

    return Tweak(request=hook)


def maxcompletiontokens(options: Mapping[str, Any] | None) -> Tweak:
    """Send `max_completion_tokens` instead of `max_tokens` (OpenAI o-series and GPT-5 refuse the latter)."""

    def hook(request: JSON, body: JSON) -> JSON:
        if "max_tokens" in request:
            request["max_completion_tokens"] = request.pop("max_tokens")
        return request

    return Tweak(request=hook)


def sampling(options: Mapping[str, Any] | None) -> Tweak:
    """`["sampling", {temperature, top_p, top_k, repetition_penalty, max_tokens}]`: set the sampling fields given
    (overriding the client's), cap max_tokens."""
    options = options or {}
    limit = positive_int(options.get("max_tokens"))
    fields = {key: number(options[key]) for key in SAMPLING_KEYS[1:] if key in options}

    def hook(request: JSON, body: JSON) -> JSON:
        if limit is not None:
            cap_tokens(request, limit)
        request.update(fields)
        return request

    return Tweak(request=hook)


def streamoptions(options: Mapping[str, Any] | None) -> Tweak:
    """Ask for usage in streams. ccrouter's translation already does so for every stream; kept for configs."""

    def hook(request: JSON, body: JSON) -> JSON:
        if request.get("stream"):
            request["stream_options"] = {"include_usage": True}
        return request

    return Tweak(request=hook)


def cleancache(options: Mapping[str, Any] | None) -> Tweak:
    """Remove every `cache_control` from the Anthropic body: system blocks, message blocks (tool results
    included) and tools. (The chat translation never forwards cache_control either; this also keeps it away
    from the tweaks and plugins later in the chain.)"""
    return Tweak(body=without_cache_control)


def without_cache_control(body: JSON) -> JSON:
    """`body` without `cache_control` anywhere it may stand; unchanged parts are shared, `body` is not modified."""
    out = body
    system = body.get("system")
    if isinstance(system, list):
        blocks = _blocks_without_cache(system)
        if blocks is not system:
            out = {**out, "system": blocks}
    messages = body.get("messages")
    if isinstance(messages, list):
        new_messages: list[Any] | None = None
        for i, message in enumerate(messages):
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list):
                continue
            blocks = _blocks_without_cache(content)
            if blocks is not content:
                if new_messages is None:
                    new_messages = list(messages)
                new_messages[i] = {**message, "content": blocks}
        if new_messages is not None:
            out = {**out, "messages": new_messages}
    tools = body.get("tools")
    if isinstance(tools, list):
        blocks = _blocks_without_cache(tools)
        if blocks is not tools:
            out = {**out, "tools": blocks}
    return out


def _blocks_without_cache(blocks: list[Any]) -> list[Any]:
    """The list itself when no block has cache_control, else a copy with those blocks copied without it."""
    result: list[Any] | None = None
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        new = block
        if "cache_control" in block:
            new = {k: v for k, v in block.items() if k != "cache_control"}
        inner = block.get("content")
        if block.get("type") == "tool_result" and isinstance(inner, list):
            cleaned = _blocks_without_cache(inner)
            if cleaned is not inner:
                new = {**new, "content": cleaned}
        if new is not block:
            if result is None:
                result = list(blocks)
            result[i] = new
    return blocks if result is None else result


def customparams(options: Mapping[str, Any] | None) -> Tweak:
    """`["customparams", {...}]`: add the given fields to every request, as CCR does: a field the request lacks is
    added, objects are merged deeply, a plain value the request already has is kept (use `sampling` to
    override temperature and the like)."""
    params = dict(options or {})

    def hook(request: JSON, body: JSON) -> JSON:
        for key, value in params.items():
            if key not in request:
                request[key] = copy.deepcopy(value)
            elif isinstance(request[key], dict) and isinstance(value, dict):
                request[key] = deep_merge(request[key], value)
        return request

    return Tweak(request=hook)


def deep_merge(target: Mapping[str, Any], source: Mapping[str, Any]) -> JSON:
    """A new dict: `target` with `source` merged in (source wins, objects merge recursively)."""
    result = dict(target)
    for key, value in source.items():
        current = result.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            result[key] = deep_merge(current, value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def reasoning(options: Mapping[str, Any] | None) -> Tweak:
    """Thinking switches for servers that read `enable_thinking` / `thinking` (Qwen, SiliconFlow, GLM, ...).

    With thinking requested: `thinking: {"type": "enabled", "budget_tokens": <the client's budget>}` and
    `enable_thinking: true` (CCR sends the budget as undefined: it reads a field its own translation never
    sets). `{"enable": false}` turns thinking off: no `reasoning_effort`, `enable_thinking: false`,
    `thinking: {"type": "disabled"}` (CCR also sends `budget_tokens: -1`, which strict servers refuse).
    Reasoning in replies (`reasoning_content`) becomes thinking blocks for every provider already.
    """
    enable = (options or {}).get("enable", True) is not False

    def hook(request: JSON, body: JSON) -> JSON:
        if not enable:
            request.pop("reasoning_effort", None)
            request["thinking"] = {"type": "disabled"}
            request["enable_thinking"] = False
            return request
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
            switch: JSON = {"type": "enabled"}
            budget = thinking.get("budget_tokens")
            if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
                switch["budget_tokens"] = budget
            request["thinking"] = switch
            request["enable_thinking"] = True
        return request

    return Tweak(request=hook)
