"""The config keys of the usage ledger: `LEDGER`, `LEDGER_URL`, `Prices`, `Baseline` and `Budgets`, read into
`LedgerSettings`.

`LEDGER_URL` (team mode) puts the ledger in PostgreSQL instead of `ledger.db`: a `postgresql://` (or `postgres://`)
URL, usually `"$LEDGER_URL"` so the password stays out of the file. It is checked here with the standard library
only (scheme, host, port), and no message ever repeats it: it may hold a password.

`Prices` overrides what genai-prices knows, in USD per million tokens:
`{"provider,model": {"input": 0.27, "output": 1.10, "cache_read": 0.07, "cache_write": 0.27}}`. The key names a
configured target; `cache_read` and `cache_write` default to `input`, because a provider that does not price its
cache bills those tokens as input. `Baseline` names what savings are measured against (by default the Claude model
each request asked for): a model of a configured provider (listed or not: it is priced like the provider's own), or
of a provider genai-prices knows and the config does not ("anthropic,claude-sonnet-4-5"). It is priced when first
needed; one without a price gets a hint then. `Budgets` is read by `budget_rules.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ccrouter.config.budget_rules import BudgetRule, budget_rules
from ccrouter.config.model import Provider
from ccrouter.config.router_section import target_of
from ccrouter.config.scalars import number, read_bool, read_text, read_typed, reject_unknown_keys, shown
from ccrouter.errors import ConfigError

PRICE_KINDS = ("input", "output", "cache_read", "cache_write")
LEDGER_URL_SCHEMES = ("postgresql", "postgres")
LEDGER_URL_EXAMPLE = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"
_PRICES_EXAMPLE = '{"input": 0.27, "output": 1.10, "cache_read": 0.07, "cache_write": 0.27}'


@dataclass(frozen=True, slots=True)
class Price:
    """What a model costs, in USD per million tokens of each kind (input counts only the tokens not read from or
    written to the prompt cache, as Anthropic's `input_tokens` does)."""

    input: float
    output: float
    cache_read: float
    cache_write: float

    def as_dict(self) -> dict[str, float]:
        return {
            "input": self.input,
            "output": self.output,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
        }


@dataclass(frozen=True)
class LedgerSettings:
    enabled: bool = True  # LEDGER: false writes no ledger (and leaves budgets without the spend before a restart)
    prices: Mapping[str, Price] = field(default_factory=dict)  # "provider,model" (as Providers spells them) -> price
    baseline: str | None = None  # "provider,model"; None: the Claude model each request asked for
    budgets: tuple[BudgetRule, ...] = ()
    url: str | None = field(default=None, repr=False)  # LEDGER_URL: the PostgreSQL ledger (may hold a password)


def ledger_section(data: Mapping[str, Any], providers: Iterable[Provider]) -> LedgerSettings:
    """The ledger's keys of the config object `data`, checked against `providers`; errors name the key and the fix."""
    providers = list(providers)
    return LedgerSettings(
        enabled=read_bool(data, "LEDGER", True),
        url=ledger_url(data),
        prices=_prices(data, providers),
        baseline=_baseline(data, providers),
        budgets=budget_rules(data, providers),
    )


def ledger_url(data: Mapping[str, Any]) -> str | None:
    """`LEDGER_URL` ($VARs already replaced), checked to be a PostgreSQL URL; None when it is not set. The errors
    say what is wrong with it without quoting it."""
    value = data.get("LEDGER_URL")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"LEDGER_URL is {shown(value)}; it must be a string like {LEDGER_URL_EXAMPLE!r}.")
    problem = _url_problem(value.strip())
    if problem:
        raise ConfigError(
            f"LEDGER_URL {problem}; write it as {LEDGER_URL_EXAMPLE} (or leave it out to keep the ledger in "
            "ledger.db beside the config)."
        )
    return value.strip()


def _url_problem(url: str) -> str | None:
    """What makes `url` unusable as a PostgreSQL URL, in words that do not repeat it; None when it is fine."""
    scheme, colon, _ = url.partition("://")
    if not colon or scheme.lower() not in LEDGER_URL_SCHEMES:
        return "is not a postgresql:// URL"
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts and "host=" not in parts.query:  # libpq's `?host=/run/postgresql` names a socket folder instead
        return "names no host"
    if "," in hosts:  # several hosts (libpq tries each): their ports are libpq's to read
        return None
    try:
        port = parts.port
    except ValueError:
        port = 0
    return "has a port that is not a number from 1 to 65535" if port == 0 else None


def _prices(data: Mapping[str, Any], providers: list[Provider]) -> dict[str, Price]:
    block: dict[str, Any] = read_typed(
        data, "Prices", dict, {}, like=f'{{"deepseek,deepseek-chat": {_PRICES_EXAMPLE}}}'
    )
    prices: dict[str, Price] = {}
    seen: dict[str, str] = {}
    for key, value in block.items():
        where = f"Prices[{key!r}]"
        label = target_of(key, where, providers).label
        if label.casefold() in seen:
            raise ConfigError(f"{where} prices the same model as Prices[{seen[label.casefold()]!r}]; keep one of them.")
        seen[label.casefold()] = key
        prices[label] = _price(value, where)
    return prices


def _price(value: Any, where: str) -> Price:
    """One `Prices` entry: input and output required, the cache prices defaulting to input."""
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where} is {shown(value)}; it must be an object of USD per million tokens, like {_PRICES_EXAMPLE}."
        )
    reject_unknown_keys(value, PRICE_KINDS, where, note=" (USD per million tokens)")
    missing = [kind for kind in ("input", "output") if value.get(kind) is None]
    if missing:
        raise ConfigError(
            f"{where} lacks {' and '.join(missing)}; give at least input and output, like {_PRICES_EXAMPLE}."
        )
    found = {kind: _usd_per_million(value, kind, where) for kind in PRICE_KINDS if value.get(kind) is not None}
    return Price(
        input=found["input"],
        output=found["output"],
        cache_read=found.get("cache_read", found["input"]),
        cache_write=found.get("cache_write", found["input"]),
    )


def _usd_per_million(value: Mapping[str, Any], kind: str, where: str) -> float:
    found = number(value[kind])
    if found is None or found < 0:
        raise ConfigError(
            f"{where}.{kind} is {shown(value[kind])}; it must be a number of USD per million tokens, 0 or more, "
            "like 0.27."
        )
    return float(found)


def _baseline(data: Mapping[str, Any], providers: list[Provider]) -> str | None:
    text = read_text(data, "Baseline")
    if text is None:
        return None
    provider_name, comma, model = text.partition(",")
    if not comma or not provider_name.strip() or not model.strip():
        raise ConfigError(
            f'Baseline is {shown(text)}, but it must be "provider,model", like "anthropic,claude-sonnet-4-5": '
            "what savings are measured against (leave it out to use the Claude model each request asked for)."
        )
    provider = next((p for p in providers if p.name.casefold() == provider_name.strip().casefold()), None)
    if provider is None:
        return f"{provider_name.strip()},{model.strip()}"  # a provider genai-prices knows, e.g. anthropic
    return f"{provider.name},{provider.find_model(model.strip()) or model.strip()}"  # any model it prices
