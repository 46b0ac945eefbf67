"""The transformer registry: every transformer name a config may use, and what each one is.

A config's `"transformer": {"use": [...]}` names transformers (CCR's word). Each name here either selects the wire
format a provider speaks (an *adapter*: anthropic, gemini, ...) or tweaks the OpenAI chat-completions translation
that serves every other provider (a *tweak*: deepseek, maxtoken, tooluse, ...). This is the only list of them:

- the config loader refuses any other name (unless a plugin file declares it) and runs the entry's option check;
- `providers.registry.make_adapter` builds the adapter an adapter entry's `factory` names;
- `providers.openai_chat.tweaks.chain.build_chain` builds the tweak a tweak entry's `factory` names.

A `factory` is a "module:attribute" reference that the providers import on first use, so this module (and the
config package) never imports the providers. Adding a transformer is one entry below, plus its factory:
an adapter factory is called as `factory(provider, model)`, a tweak factory as `factory(options)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ccrouter.config.scalars import number, positive_int

OptionCheck = Callable[[Mapping[str, Any] | None], str | None]
"""The transformer's options (None when it was named alone) -> what is wrong with them, or None."""


class Kind(StrEnum):
    ADAPTER = "adapter"  # selects the provider's wire format
    TWEAK = "tweak"  # changes the OpenAI chat-completions translation


# The wire format of a provider whose transformers select none.
DEFAULT_WIRE_FORMAT = "openai-chat"

_TWEAKS = "ccrouter.providers.openai_chat.tweaks"


@dataclass(frozen=True, slots=True)
class Transformer:
    name: str  # lower-case, as configs are matched
    kind: Kind
    factory: str | None  # "module:attribute"; None for a name that changes nothing here (see "openai")
    check: OptionCheck | None = None  # None: takes no options, and ignores any it is given (as CCR does)


# ---------------------------------------------------------------------------------------------------------------
# Option checks


SAMPLING_KEYS = ("max_tokens", "temperature", "top_p", "top_k", "repetition_penalty")


def max_tokens_option(options: Mapping[str, Any] | None) -> int | None:
    """maxtoken's limit: `max_tokens`, or `maxTokens` as some CCR versions also read."""
    if not options:
        return None
    return positive_int(options.get("max_tokens", options.get("maxTokens")))


def _maxtoken_problem(options: Mapping[str, Any] | None) -> str | None:
    if max_tokens_option(options) is None:
        return (
            'maxtoken needs options {"max_tokens": N} with N a positive whole number, '
            'e.g. ["maxtoken", {"max_tokens": 16384}]'
        )
    return None


def _sampling_problem(options: Mapping[str, Any] | None) -> str | None:
    if not options:
        return None
    unknown = sorted(set(options) - set(SAMPLING_KEYS))
    if unknown:
        return (
            f"sampling does not know {', '.join(map(repr, unknown))}; it takes {', '.join(SAMPLING_KEYS)} "
            "(use customparams for other request fields)"
        )
    if "max_tokens" in options and positive_int(options["max_tokens"]) is None:
        return "sampling's max_tokens must be a positive whole number"
    for key in SAMPLING_KEYS[1:]:
        if key in options and number(options[key]) is None:
            return f"sampling's {key} must be a number"
    return None


def _reasoning_problem(options: Mapping[str, Any] | None) -> str | None:
    if options and "enable" in options and not isinstance(options["enable"], bool):
        return 'reasoning\'s enable must be true or false, e.g. ["reasoning", {"enable": false}]'
    return None


# ---------------------------------------------------------------------------------------------------------------
# The registry


def _adapter(name: str, factory: str) -> Transformer:
    return Transformer(name, Kind.ADAPTER, factory)


def _tweak(name: str, module: str, check: OptionCheck | None = None) -> Transformer:
    return Transformer(name, Kind.TWEAK, f"{_TWEAKS}.{module}:{name}", check)


TRANSFORMERS: Mapping[str, Transformer] = {
    entry.name: entry
    for entry in (
        # Wire formats (REFERENCE §5). The first one a model's transformer list names wins.
        _adapter("anthropic", "ccrouter.providers.registry:anthropic_adapter"),
        _adapter("gemini", "ccrouter.providers.gemini.adapter:GeminiAdapter"),
        _adapter("vertex-gemini", "ccrouter.providers.gemini.vertex:VertexGeminiAdapter"),
        _adapter("openai-responses", "ccrouter.providers.openai_responses.adapter:ResponsesAdapter"),
        # The default chat format, named explicitly: nothing to select or change.
        Transformer("openai", Kind.TWEAK, None),
        # Provider quirks (tweaks/vendors.py).
        _tweak("deepseek", "vendors"),
        _tweak("openrouter", "vendors"),
        _tweak("groq", "vendors"),
        _tweak("cerebras", "vendors"),
        # Request parameters (tweaks/params.py).
        _tweak("maxtoken", "params", _maxtoken_problem),
        _tweak("maxcompletiontokens", "params"),
        _tweak("sampling", "params", _sampling_problem),
        _tweak("streamoptions", "params"),
        _tweak("cleancache", "params"),
        _tweak("customparams", "params"),
        _tweak("reasoning", "params", _reasoning_problem),
        # Tool calls and reasoning text (tweaks/tooluse.py, tool_arguments.py, think_tags.py).
        _tweak("tooluse", "tooluse"),
        _tweak("enhancetool", "tool_arguments"),
        _tweak("forcereasoning", "think_tags"),
        _tweak("extrathinktag", "think_tags"),
    )
}


def option_problem(name: str, options: Mapping[str, Any] | None) -> str | None:
    """What is wrong with the options of the built-in transformer `name` (lower-cased), or None."""
    entry = TRANSFORMERS.get(name)
    return entry.check(options) if entry is not None and entry.check is not None else None


def selects_wire_format(name: str) -> bool:
    entry = TRANSFORMERS.get(name)
    return entry is not None and entry.kind is Kind.ADAPTER
