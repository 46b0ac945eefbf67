"""Which adapter serves a provider's model, chosen by the transformers the config names."""

from __future__ import annotations

from ccrouter.config import Provider
from ccrouter.errors import GatewayError
from ccrouter.providers.anthropic import AnthropicAdapter
from ccrouter.providers.base import Adapter
from ccrouter.providers.openai_chat import OpenAIChatAdapter


def make_adapter(provider: Provider, model: str) -> Adapter:
    kind = provider.adapter_kind(model)
    if kind == "anthropic":
        return AnthropicAdapter(provider)
    if kind == "openai-chat":
        return OpenAIChatAdapter(provider)
    raise GatewayError(
        501,
        f"Provider {provider.name!r} uses the {kind!r} transformer, whose adapter this version of ccrouter does not "
        "have yet. Route this scenario to an OpenAI-compatible or Anthropic-compatible provider for now.",
        "api_error",
    )
