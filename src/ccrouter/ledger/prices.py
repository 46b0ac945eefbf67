"""What a request cost, and what the same tokens would have cost on the baseline: the `PriceBook`.

A (provider, model) is priced by the first of:
1. the config's `Prices` entry for it;
2. free, when the provider has no `api_key` and its `api_base_url` is on this machine (a local server), because
   its model names often match paid ones ("gpt-oss-120b") and pricing them so would invent a cost;
3. genai-prices, by the provider's base URL or name (`genai_lookup.py`);
4. else unknown: the cost is None, never a silent 0, and one hint per (provider, model) names the `Prices` key to
   add. A request that used no tokens (refused, failed before the provider answered) costs 0 whatever is known.
The baseline is the `Baseline` config target when set, else the Claude model the request asked for, at Anthropic's
prices from genai-prices. Savings are baseline minus cost, summed by `store.py`.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import urlsplit

from ccrouter.config.ledger_section import Price
from ccrouter.ledger import genai_lookup
from ccrouter.ledger.genai_lookup import RateCard
from ccrouter.ledger.rows import Tokens
from ccrouter.untrusted import clip

SOURCE_OVERRIDE = "Prices"  # the config's `Prices`
SOURCE_LOCAL = "local"  # a keyless provider on this machine
SOURCE_GENAI = "genai-prices"
_FREE = Price(0.0, 0.0, 0.0, 0.0)
MAX_REMEMBERED = 512  # baselines and hints kept per requested model name, which clients choose
MAX_QUOTED = 4096  # (target, model asked for, minute, request size) -> its quotes, for the requests that follow


class Endpoint(Protocol):
    """What pricing needs of a configured provider (`config.model.Provider` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def api_base_url(self) -> str: ...
    @property
    def api_key(self) -> str | None: ...
    @property
    def models(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Quote:
    """A price and where it came from: `priced_as` is the `Prices` key, "local", or genai-prices' provider,model."""

    price: Price
    source: str
    priced_as: str

    def as_dict(self) -> dict[str, object]:
        return {**self.price.as_dict(), "source": self.source, "priced_as": self.priced_as}


@dataclass(frozen=True, slots=True)
class Costs:
    """One request's cost and baseline cost in USD (None: no price known) and the prices used, as JSON."""

    cost_usd: float | None
    baseline_cost_usd: float | None
    prices: str | None

    @property
    def savings_usd(self) -> float | None:
        if self.cost_usd is None or self.baseline_cost_usd is None:
            return None
        return self.baseline_cost_usd - self.cost_usd


_Source = Quote | RateCard | None  # a fixed price, genai-prices' card (priced per moment and size), or unknown


def cost(price: Price, tokens: Tokens) -> float:
    """USD for `tokens` at `price` (USD per million tokens of each kind)."""
    return (
        tokens.input * price.input
        + tokens.output * price.output
        + tokens.cache_read * price.cache_read
        + tokens.cache_write * price.cache_write
    ) / 1_000_000


class PriceBook:
    """Prices of the configured providers' models and of the baseline, each resolved once and kept.

    `report` (level, message) receives one warning per (provider, model) that has no price, and one for a baseline
    without one. Safe
    to call from any thread; `warm()` loads genai-prices and resolves every configured model (call it off the
    event loop, at start or on reload)."""

    def __init__(
        self,
        overrides: Mapping[str, Price],
        endpoints: Iterable[Endpoint],
        *,
        baseline: str | None = None,
        report: Callable[[str, str], None] | None = None,
    ) -> None:
        self._overrides = {label.casefold(): Quote(price, SOURCE_OVERRIDE, label) for label, price in overrides.items()}
        self._endpoints = {endpoint.name.casefold(): endpoint for endpoint in endpoints}
        self._baseline = baseline
        self._report = report or (lambda level, message: None)
        self._sources: dict[tuple[str, str], _Source] = {}
        self._baselines: dict[str, _Source] = {}
        self._hinted: set[str] = set()
        # Prices are looked up once per target, model asked for, minute and request size, not per request:
        # genai-prices resolves a dated price in ~2 us. Its dates and time-of-day conditions fall on whole minutes.
        self._quoted: dict[tuple[str | None, str | None, str | None, int, int], tuple[Quote | None, Quote | None, str]]
        self._quoted = {}
        self._tier_starts: tuple[int, ...] = ()  # every size tier's start of every rate card resolved, sorted
        self._hint_lock = threading.Lock()

    def warm(self) -> None:
        genai_lookup.warm()
        for endpoint in self._endpoints.values():
            for model in endpoint.models:
                self._source(endpoint.name, model)
        if self._baseline is not None:
            self._baseline_source(None)

    def quote(self, provider: str, model: str, tokens: Tokens, when: float) -> Quote | None:
        """The price of (provider, model) for a request of `tokens` at Unix time `when`; None when unknown."""
        return _quote_of(self._source(provider, model), tokens, when)

    def baseline_quote(self, requested_model: str | None, tokens: Tokens, when: float) -> Quote | None:
        """The baseline's price for a request that asked for `requested_model`; None when it has none."""
        return _quote_of(self._baseline_source(requested_model), tokens, when)

    def costs(
        self, provider: str | None, model: str | None, requested_model: str | None, tokens: Tokens, when: float
    ) -> Costs:
        """What one request cost, what the baseline would have, and the prices used. Hints unknown prices once."""
        if tokens.none:
            return Costs(0.0, 0.0, None)
        key = (provider, model, requested_model, int(when // 60), bisect_left(self._tier_starts, tokens.total_input))
        quoted = self._quoted.get(key)
        if quoted is None:
            quoted = self._quotes_for(provider, model, requested_model, tokens, when)
            if len(self._quoted) >= MAX_QUOTED:  # minutes move on: start again rather than grow
                self._quoted.clear()
            self._quoted[key] = quoted
        actual, baseline, prices = quoted
        return Costs(
            cost(actual.price, tokens) if actual else None,
            cost(baseline.price, tokens) if baseline else None,
            prices,
        )

    def _quotes_for(
        self, provider: str | None, model: str | None, requested_model: str | None, tokens: Tokens, when: float
    ) -> tuple[Quote | None, Quote | None, str]:
        """The prices of one request and of its baseline, and their JSON; hints an unknown price once."""
        actual = self.quote(provider, model, tokens, when) if provider and model else None
        if actual is None:
            self._hint_once(f"{provider},{model}", lambda: _unpriced_hint(provider, model))
        baseline = self.baseline_quote(requested_model, tokens, when)
        self._note_tiers(self._source(provider, model) if provider and model else None)
        self._note_tiers(self._baseline_source(requested_model))
        return actual, baseline, _prices_json(actual, baseline)

    def _note_tiers(self, source: _Source) -> None:
        """Keep `_tier_starts` a superset of every resolved card's, so requests in one tier of it cost alike on
        every card; when it grows, the quotes kept under the old tiers are dropped."""
        if isinstance(source, RateCard) and not source.tier_starts.issubset(self._tier_starts):
            self._tier_starts = tuple(sorted(source.tier_starts.union(self._tier_starts)))
            self._quoted.clear()

    def _source(self, provider: str, model: str) -> _Source:
        key = (provider.casefold(), model.casefold())
        if key not in self._sources:
            self._sources[key] = self._resolve(provider, model)
        return self._sources[key]

    def _resolve(self, provider: str, model: str) -> _Source:
        override = self._overrides.get(f"{provider},{model}".casefold())
        if override is not None:
            return override
        endpoint = self._endpoints.get(provider.casefold())
        if endpoint is None:
            return None  # not a configured provider: nothing says where it is or who bills it
        if not endpoint.api_key and is_on_this_machine(endpoint.api_base_url):
            return Quote(_FREE, SOURCE_LOCAL, SOURCE_LOCAL)
        return genai_lookup.find_rate_card(endpoint.name, endpoint.api_base_url, model)

    def _baseline_source(self, requested_model: str | None) -> _Source:
        key = self._baseline or requested_model or ""
        if key in self._baselines:
            return self._baselines[key]
        found = self._resolve_baseline(requested_model)
        if len(self._baselines) < MAX_REMEMBERED:  # clients name the model: a flood of names is not kept
            self._baselines[key] = found
        return found

    def _resolve_baseline(self, requested_model: str | None) -> _Source:
        if self._baseline is not None:
            provider, _, model = self._baseline.partition(",")
            if provider.casefold() in self._endpoints:
                found = self._source(provider, model)
            else:
                found = genai_lookup.find_rate_card_by_id(provider, model)
            if found is None:
                baseline = self._baseline
                self._hint_once(f"Baseline {baseline}", lambda: _baseline_hint(baseline))
            return found
        if not requested_model:
            return None
        found = genai_lookup.find_rate_card_by_id(genai_lookup.ANTHROPIC, requested_model)
        if found is None and _looks_like_claude(requested_model):
            self._hint_once(f"requested {requested_model}", lambda: _claude_hint(requested_model))
        return found

    def _hint_once(self, key: str, message: Callable[[], str]) -> None:
        """Report `message()` the first time `key` needs it (and no more once MAX_REMEMBERED keys were hinted). The
        message is only written when it is reported: an unpriced model asks on every request."""
        folded = key.casefold()
        if folded in self._hinted:
            return
        with self._hint_lock:
            if folded in self._hinted or len(self._hinted) >= MAX_REMEMBERED:
                return
            self._hinted.add(folded)
        self._report("warn", message())


def is_on_this_machine(base_url: str) -> bool:
    """Whether `base_url`'s host is this machine: localhost, a loopback address, or the unspecified address."""
    try:
        host = urlsplit(base_url).hostname or ""
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _quote_of(source: _Source, tokens: Tokens, when: float) -> Quote | None:
    if source is None or isinstance(source, Quote):
        return source
    price = source.price(when, tokens.total_input)
    return _genai_quote(price, source.label) if price is not None else None


@lru_cache(maxsize=1024)
def _genai_quote(price: Price, label: str) -> Quote:
    return Quote(price, SOURCE_GENAI, label)


@lru_cache(maxsize=1024)
def _prices_json(actual: Quote | None, baseline: Quote | None) -> str:
    """The prices a row was costed at: {"cost": {...}, "baseline": {...}}, null where none was known."""
    return json.dumps(
        {"cost": actual.as_dict() if actual else None, "baseline": baseline.as_dict() if baseline else None},
        separators=(",", ":"),
    )


def _looks_like_claude(model: str) -> bool:
    return model.casefold().startswith("claude") and "," not in model and "/" not in model


def _unpriced_hint(provider: str | None, model: str | None) -> str:
    key = f"{provider},{model}"
    return (
        f"No price is known for {key}, so its requests are recorded with cost null (and no savings). Add it to the "
        f'config as "Prices": {{"{key}": {{"input": 0.0, "output": 0.0, "cache_read": 0.0, "cache_write": 0.0}}}} '
        "with its USD per million tokens."
    )


def _baseline_hint(baseline: str) -> str:
    return (
        f"No price is known for the Baseline {baseline}, so savings are recorded as null. Give it a Prices entry "
        'if it is a configured provider, or name one genai-prices knows, like "anthropic,claude-sonnet-4-5".'
    )


def _claude_hint(model: str) -> str:
    return (
        f"genai-prices knows no price for {clip(model)}, the model Claude Code asked for, so the savings of these "
        "requests are recorded as null. Update genai-prices (pip install -U genai-prices) "
        'or set "Baseline": "provider,model".'
    )
