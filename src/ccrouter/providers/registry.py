"""Which adapter serves a provider's model, chosen by the transformers the config names.

Each wire format is one module; the ones most configs never use are imported on first use, so start-up and the
statusline do not pay for them.
"""

from __future__ import annotations

from ccrouter.config.model import Provider
from ccrouter.providers.anthropic import AnthropicAdapter
from ccrouter.providers.base import Adapter
from ccrouter.providers.openai_chat.adapter import OpenAIChatAdapter


def make_adapter(provider: Provider, model: str) -> Adapter:
    kind = provider.adapter_kind(model)
    if kind == "anthropic":
        return AnthropicAdapter(provider)
    if kind == "gemini":
        from ccrouter.providers.gemini.adapter import GeminiAdapter

        return GeminiAdapter(provider, model)
    if kind == "vertex-gemini":
        from ccrouter.providers.gemini.vertex import VertexGeminiAdapter

        return VertexGeminiAdapter(provider, model)
    if kind == "openai-responses":
        from ccrouter.providers.openai_responses.adapter import ResponsesAdapter

        return ResponsesAdapter(provider, model)
    return OpenAIChatAdapter(provider, provider.transformers_for(model))
