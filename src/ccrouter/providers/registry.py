"""Building what the transformer registry (`ccrouter.config.transformers`) names: a model's adapter, a tweak.

A registry entry points at its factory as "module:attribute"; `load_factory` imports it on first use, so the wire
formats most configs never use cost nothing at start-up, and the config package never imports the providers.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from ccrouter.config.model import Provider
from ccrouter.config.transformers import TRANSFORMERS, Transformer
from ccrouter.providers.base import Adapter

AdapterFactory = Callable[[Provider, str], Adapter]
"""An adapter entry's factory: (provider, model) -> the adapter serving that model."""


def make_adapter(provider: Provider, model: str) -> Adapter:
    entry = TRANSFORMERS.get(provider.adapter_kind(model))
    if entry is None:  # no transformer selects a wire format: OpenAI chat completions, with the model's tweaks
        from ccrouter.providers.openai_chat.adapter import OpenAIChatAdapter

        return OpenAIChatAdapter(provider, provider.transformers_for(model))
    factory: AdapterFactory = load_factory(entry)
    return factory(provider, model)


def load_factory(entry: Transformer) -> Any:
    """The object the entry's "module:attribute" reference names, imported on first use."""
    if entry.factory is None:
        raise LookupError(f"transformer {entry.name!r} has no factory")
    return _resolve(entry.factory)


@functools.cache
def _resolve(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def anthropic_adapter(provider: Provider, model: str) -> Adapter:
    """The Messages API serves every model of a provider the same way."""
    from ccrouter.providers.anthropic import AnthropicAdapter

    return AnthropicAdapter(provider)
