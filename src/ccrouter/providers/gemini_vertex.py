"""Placeholder until the vertex-gemini adapter lands: requests routed here get a clear 501."""

from __future__ import annotations

from typing import NoReturn

from ccrouter.config import Provider
from ccrouter.errors import GatewayError


class VertexGeminiAdapter:
    def __new__(cls, provider: Provider, model: str) -> NoReturn:
        raise GatewayError(
            501,
            f"Provider {provider.name!r} uses the 'vertex-gemini' transformer, whose adapter is not built yet. "
            "Route this scenario to an OpenAI-compatible or Anthropic-compatible provider for now.",
            "api_error",
        )
