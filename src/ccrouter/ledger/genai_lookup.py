"""What the `genai-prices` package knows: which of its providers a configured one is, and a model's price.

A CCR provider is matched to a genai-prices provider by its `api_base_url` (each genai-prices provider has a URL
pattern: api.deepseek.com, openrouter.ai, generativelanguage.googleapis.com, ...), else by its name ("deepseek",
"gemini", "openai"). A model's price can change on a date and depend on the request's size (long-context tiers: the
whole request is priced higher past e.g. 200K input tokens, cache included); `RateCard.price` answers for one
moment and one size, in USD per million tokens. A price genai-prices leaves out for the cache means the provider
bills those tokens as input. The package's data (1.5 MB of Python) is imported on first use, and `warm` lets the
service pay for it at start, off the request path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from ccrouter.config.ledger_section import Price

if TYPE_CHECKING:
    from genai_prices import types
    from genai_prices.data_snapshot import DataSnapshot

ANTHROPIC = "anthropic"  # genai-prices' id of Anthropic, whose prices are the default baseline


class RateCard:
    """One model's prices in genai-prices; `label` is what it was matched to ("openrouter,anthropic/claude-...")."""

    def __init__(self, provider_id: str, model: types.ModelInfo) -> None:
        self.label = f"{provider_id},{model.id}"
        self._model = model
        # No dated or conditional prices: one set for ever, read without building a datetime per request.
        self._fixed = model.prices if not isinstance(model.prices, list) else None
        self._prices: dict[tuple[int, int], Price | None] = {}
        self._thresholds: dict[int, tuple[int, ...]] = {}
        price_sets = [c.prices for c in model.prices] if isinstance(model.prices, list) else [model.prices]
        # Where any of its prices changes with the request's size: requests between two of these cost alike.
        self.tier_starts = frozenset(start for prices in price_sets for start in _tier_starts(prices))

    def price(self, when: float, total_input: int) -> Price | None:
        """The price at Unix time `when` for a request of `total_input` input tokens (cache included); None when
        genai-prices does not price this model's tokens."""
        model_price = self._fixed
        if model_price is None:
            model_price = self._model.get_prices(datetime.fromtimestamp(when, UTC))
        thresholds = self._thresholds.get(id(model_price))
        if thresholds is None:
            thresholds = self._thresholds[id(model_price)] = _tier_starts(model_price)
        key = (id(model_price), sum(1 for start in thresholds if total_input > start))
        if key not in self._prices:  # a handful per model: the price sets it has, times their tiers
            self._prices[key] = _price_of(model_price, total_input)
        return self._prices[key]


def warm() -> None:
    """Import genai-prices' data now (about 0.15 s), so the first request priced does not wait for it."""
    _snapshot()


def find_rate_card(provider_name: str, base_url: str | None, model: str) -> RateCard | None:
    """The prices of `model` at the genai-prices provider the base URL (else the name) points to; None if unknown."""
    snapshot = _snapshot()
    provider = _provider_by_url(snapshot, base_url) if base_url else None
    if provider is None:
        provider = _provider_by_id(snapshot, provider_name)
    if provider is None:
        return None
    found = provider.find_model(model, all_providers=snapshot.providers)
    return RateCard(provider.id, found) if found is not None else None


def find_rate_card_by_id(provider_id: str, model: str) -> RateCard | None:
    """The prices of `model` at the genai-prices provider `provider_id` ("anthropic"); None if unknown. A trailing
    "[1m]" (Claude Code's mark for the 1M-token context window) is ignored."""
    snapshot = _snapshot()
    provider = _provider_by_id(snapshot, provider_id)
    if provider is None:
        return None
    found = provider.find_model(model.partition("[")[0].strip(), all_providers=snapshot.providers)
    return RateCard(provider.id, found) if found is not None else None


def _snapshot() -> DataSnapshot:
    from genai_prices.data_snapshot import get_snapshot

    return get_snapshot()


def _provider_by_url(snapshot: DataSnapshot, base_url: str) -> types.Provider | None:
    try:
        return snapshot.find_provider(None, None, base_url)
    except LookupError:
        return None


def _provider_by_id(snapshot: DataSnapshot, provider_id: str) -> types.Provider | None:
    if provider_id.strip().casefold() == "litellm":  # genai-prices reads litellm's ids from the model name
        return None
    try:
        return snapshot.find_provider(None, provider_id, None)
    except LookupError:
        return None


def _tier_starts(model_price: types.ModelPrice) -> tuple[int, ...]:
    """Where the long-context tiers of any token kind start (none: one price whatever the request's size)."""
    from genai_prices.types import TieredPrices

    starts: set[int] = set()
    for kind in ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok"):
        value = getattr(model_price, kind, None)
        if isinstance(value, TieredPrices):
            starts.update(tier.start for tier in value.tiers)
    return tuple(sorted(starts))


def _price_of(model_price: types.ModelPrice, total_input: int) -> Price | None:
    input_price = _per_million(getattr(model_price, "input_mtok", None), total_input)
    if input_price is None:
        return None  # priced per request, per image or per second: not in tokens
    output_price = _per_million(getattr(model_price, "output_mtok", None), total_input)
    cache_read = _per_million(getattr(model_price, "cache_read_mtok", None), total_input)
    cache_write = _per_million(getattr(model_price, "cache_write_mtok", None), total_input)
    return Price(
        input=input_price,
        output=output_price if output_price is not None else 0.0,
        cache_read=cache_read if cache_read is not None else input_price,
        cache_write=cache_write if cache_write is not None else input_price,
    )


def _per_million(value: object, total_input: int) -> float | None:
    """A genai-prices price (a Decimal, or tiers whose highest passed one applies to all tokens) as a float."""
    from genai_prices.types import TieredPrices

    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, TieredPrices):
        applicable = value.base
        for tier in reversed(value.tiers):
            if total_input > tier.start:
                applicable = tier.price
                break
        return float(applicable)
    return None
