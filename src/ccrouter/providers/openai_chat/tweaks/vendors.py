"""Provider quirks behind CCR's provider-named transformers: deepseek, openrouter, groq, cerebras.

Replies need no per-provider work here: the shared translation already reads DeepSeek's `reasoning_content`,
OpenRouter's `reasoning` / `reasoning_details` and Cerebras' `reasoning`, and keeps numeric tool-call ids.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ccrouter.providers.openai_chat.tweaks.hooks import JSON, Tweak
from ccrouter.providers.openai_chat.tweaks.params import cap_tokens

DEEPSEEK_CHAT_MAX_TOKENS = 8192
DEEPSEEK_REASONER_MAX_TOKENS = 65536


def deepseek(options: Mapping[str, Any] | None) -> Tweak:
    """Cap max_tokens at DeepSeek's limits: 8192 for deepseek-chat, 64K for deepseek-reasoner. (CCR caps every
    model at 8192, cutting deepseek-reasoner's long answers short.)"""

    def hook(request: JSON, body: JSON) -> JSON:
        model = str(request.get("model", ""))
        limit = DEEPSEEK_REASONER_MAX_TOKENS if "reasoner" in model else DEEPSEEK_CHAT_MAX_TOKENS
        cap_tokens(request, limit)
        return request

    return Tweak(request=hook)


def openrouter(options: Mapping[str, Any] | None) -> Tweak:
    """OpenRouter: thinking as its `reasoning` object (`{"max_tokens": budget}` when the client gave a budget,
    else `{"effort": ...}`), and the transformer's options merged into the body as they are, overriding
    (e.g. `{"provider": {"only": ["moonshotai/fp8"]}}` for provider routing, `{"models": [...]}`)."""
    extra = dict(options or {})

    def hook(request: JSON, body: JSON) -> JSON:
        effort = request.pop("reasoning_effort", None)
        if effort:
            thinking = body.get("thinking")
            budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
            if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
                request["reasoning"] = {"max_tokens": budget}
            else:
                request["reasoning"] = {"effort": effort}
        for key, value in extra.items():
            request[key] = copy.deepcopy(value)
        return request

    return Tweak(request=hook)


def groq(options: Mapping[str, Any] | None) -> Tweak:
    """Groq refuses `$schema` in tool parameters (Claude Code's schemas carry one). Its other refusal,
    `cache_control`, never leaves the translation."""

    def hook(request: JSON, body: JSON) -> JSON:
        for tool in request.get("tools") or ():
            function = tool.get("function") if isinstance(tool, dict) else None
            params = function.get("parameters") if isinstance(function, dict) else None
            if isinstance(function, dict) and isinstance(params, dict) and "$schema" in params:
                # a new dict: the schema object is shared with the client's body
                function["parameters"] = {k: v for k, v in params.items() if k != "$schema"}
        return request

    return Tweak(request=hook)


# Fields Cerebras answers with HTTP 400 (its OpenAI-compatibility notes).
CEREBRAS_UNSUPPORTED = ("frequency_penalty", "logit_bias", "presence_penalty", "parallel_tool_calls", "service_tier")


def cerebras(options: Mapping[str, Any] | None) -> Tweak:
    """Cerebras: drop the fields it refuses (the translation sends `parallel_tool_calls` when the client
    disables parallel tool use) and any OpenRouter-style `reasoning` object; `reasoning_effort` stays, which its
    reasoning models take. (CCR sends `disable_reasoning: false` whenever thinking was not asked for: the
    default anyway, and a field only its reasoning models know.)"""

    def hook(request: JSON, body: JSON) -> JSON:
        for key in (*CEREBRAS_UNSUPPORTED, "reasoning"):
            request.pop(key, None)
        return request

    return Tweak(request=hook)
