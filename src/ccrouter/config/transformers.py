"""The tweak names ccrouter knows and the options each takes, checked when the config loads.

Imports nothing from ccrouter, so `config.py` can use it without loading the translators.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SAMPLING_KEYS = ("max_tokens", "temperature", "top_p", "top_k", "repetition_penalty")

# name -> what its options are, for messages. Names without options ignore any they are given (as CCR does).
OPTIONS_HELP = {
    "maxtoken": '{"max_tokens": N}: caps max_tokens at N',
    "sampling": '{"temperature": T, "top_p": P, "top_k": K, "repetition_penalty": R, "max_tokens": N}',
    "openrouter": '{"provider": {...}, ...}: merged into every request body',
    "customparams": '{"key": value, ...}: added to every request body',
    "reasoning": '{"enable": false} to stop sending thinking settings',
}


def option_problem(name: str, options: Mapping[str, Any] | None) -> str | None:
    """What is wrong with the options of tweak `name` (lower-cased), or None when they are usable."""
    if name == "maxtoken":
        if max_tokens_option(options) is None:
            return (
                'maxtoken needs options {"max_tokens": N} with N a positive whole number, '
                'e.g. ["maxtoken", {"max_tokens": 16384}]'
            )
    elif name == "sampling" and options:
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
    elif name == "reasoning" and options and "enable" in options and not isinstance(options["enable"], bool):
        return 'reasoning\'s enable must be true or false, e.g. ["reasoning", {"enable": false}]'
    return None


def max_tokens_option(options: Mapping[str, Any] | None) -> int | None:
    """maxtoken's limit: `max_tokens`, or `maxTokens` as some CCR versions also read."""
    if not options:
        return None
    return positive_int(options.get("max_tokens", options.get("maxTokens")))


def positive_int(value: Any) -> int | None:
    """A positive whole number, also from a string (a `$VAR` interpolates to one); else None."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def number(value: Any) -> float | int | None:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None
