"""Prices: the config's override first, then a keyless local server at 0, then genai-prices, else null and one hint;
costs, baselines and savings equal the sums worked out by hand (and genai-prices' own calculation)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import genai_prices
import pytest

from ccrouter.config.ledger_section import Price
from ccrouter.ledger.prices import MAX_REMEMBERED, PriceBook, cost
from ccrouter.ledger.rows import Tokens
from tests.ledger.support import Reports, config_with, local, settings_with

WHEN = local(2025, 10, 1, 12)
TOKENS = Tokens(input=1_000, output=500, cache_read=2_000, cache_write=100)


def book(reports: Reports | None = None, **keys: Any) -> PriceBook:
    settings = settings_with(**keys)
    return PriceBook(
        settings.prices, config_with(**keys).providers.values(), baseline=settings.baseline, report=reports
    )


def genai_total(provider_id: str, model: str, tokens: Tokens) -> float:
    """genai-prices' own price of `tokens` (its input_tokens count the cached ones too)."""
    usage = genai_prices.Usage(
        input_tokens=tokens.total_input,
        output_tokens=tokens.output,
        cache_read_tokens=tokens.cache_read,
        cache_write_tokens=tokens.cache_write,
    )
    when = datetime.fromtimestamp(WHEN, UTC)  # genai-prices' own clock would price DeepSeek's off-peak
    # hours (16:30-00:30 UTC) at half and make the test depend on when it runs
    return float(
        genai_prices.calc_price(usage, model, provider_id=provider_id, genai_request_timestamp=when).total_price
    )


def test_cost_is_tokens_times_price_per_million() -> None:
    price = Price(input=0.27, output=1.10, cache_read=0.07, cache_write=0.27)
    # 1000 * 0.27 + 500 * 1.10 + 2000 * 0.07 + 100 * 0.27 = 270 + 550 + 140 + 27 = 987 micro-dollars
    assert cost(price, TOKENS) == pytest.approx(0.000987)


def test_a_prices_override_wins_over_genai_prices() -> None:
    prices = {"deepseek,deepseek-chat": {"input": 1, "output": 2, "cache_read": 0.5, "cache_write": 1.5}}
    costs = book(Prices=prices).costs("deepseek", "deepseek-chat", None, TOKENS, WHEN)
    # 1000 * 1 + 500 * 2 + 2000 * 0.5 + 100 * 1.5 = 3150 micro-dollars (genai-prices says 0.27 / 1.10 / 0.07)
    assert costs.cost_usd == pytest.approx(0.00315)
    used = json.loads(costs.prices or "")["cost"]
    assert used == {"input": 1.0, "output": 2.0, "cache_read": 0.5, "cache_write": 1.5, "source": "Prices"} | {
        "priced_as": "deepseek,deepseek-chat"
    }


def test_a_known_model_is_priced_from_genai_prices_by_its_base_url() -> None:
    quote = book().quote("deepseek", "deepseek-chat", TOKENS, WHEN)
    assert quote is not None and quote.source == "genai-prices" and quote.priced_as == "deepseek,deepseek-chat"
    assert quote.price == Price(input=0.27, output=1.10, cache_read=0.07, cache_write=0.27)  # no cache-write price:
    # DeepSeek bills cache writes as input, and so does genai-prices
    costs = book().costs("deepseek", "deepseek-chat", None, TOKENS, WHEN)
    assert costs.cost_usd == pytest.approx(0.000987)
    assert costs.cost_usd == pytest.approx(genai_total("deepseek", "deepseek-chat", TOKENS))


def test_an_aggregator_is_matched_by_its_url_and_model_id() -> None:
    costs = book().costs("openrouter", "anthropic/claude-sonnet-4", None, TOKENS, WHEN)
    assert costs.cost_usd == pytest.approx(genai_total("openrouter", "anthropic/claude-sonnet-4", TOKENS))
    assert costs.cost_usd == pytest.approx((1000 * 3 + 500 * 15 + 2000 * 0.3 + 100 * 3.75) / 1e6)


def test_a_long_context_request_is_priced_at_the_higher_tier_for_all_its_tokens() -> None:
    big = Tokens(input=150_000, output=1_000, cache_read=60_000, cache_write=0)  # 210K input: past the 200K tier
    quote = book().quote("anthropic", "claude-sonnet-4-5-20250929", big, WHEN)
    assert quote is not None and quote.price == Price(input=6, output=22.5, cache_read=0.6, cache_write=7.5)
    costs = book().costs("anthropic", "claude-sonnet-4-5-20250929", None, big, WHEN)
    assert costs.cost_usd == pytest.approx((150_000 * 6 + 1_000 * 22.5 + 60_000 * 0.6) / 1e6)
    assert costs.cost_usd == pytest.approx(genai_total("anthropic", "claude-sonnet-4-5-20250929", big))


def test_one_book_prices_each_request_at_its_own_tier_and_minute() -> None:
    """The quotes a book keeps for the requests that follow never carry one request's tier or time to another."""
    prices = book()
    small, big = Tokens(input=1_000, output=10), Tokens(input=150_000, output=10, cache_read=60_000)
    for tokens, price in [(small, 3.0), (big, 6.0), (small, 3.0), (big, 6.0)]:  # one minute, sizes alternating
        costs = prices.costs("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5", tokens, WHEN)
        assert json.loads(costs.prices or "")["cost"]["input"] == price
        assert json.loads(costs.prices or "")["baseline"]["input"] == price  # the baseline's tier too
    # DeepSeek's off-peak price runs from 16:30 to 00:30 UTC: one minute before and at its start, in one book
    day = datetime(2025, 10, 1, tzinfo=UTC).timestamp()
    peak = prices.costs("deepseek", "deepseek-chat", None, small, day + (16 * 60 + 29) * 60 + 59)
    off_peak = prices.costs("deepseek", "deepseek-chat", None, small, day + (16 * 60 + 30) * 60)
    assert json.loads(peak.prices or "")["cost"]["input"] == 0.27
    assert json.loads(off_peak.prices or "")["cost"]["input"] == 0.135
    assert off_peak.cost_usd == pytest.approx((1_000 * 0.135 + 10 * 0.55) / 1e6)


@pytest.mark.parametrize(("provider", "model"), [("ollama", "qwen3"), ("loop6", "llama")])
def test_a_keyless_provider_on_this_machine_costs_nothing(provider: str, model: str) -> None:
    reports = Reports()
    costs = book(reports).costs(provider, model, None, TOKENS, WHEN)
    assert costs.cost_usd == 0.0
    assert json.loads(costs.prices or "")["cost"]["source"] == "local"
    assert reports.items == []


def test_a_local_server_with_a_key_is_not_assumed_free() -> None:
    reports = Reports()
    assert book(reports).costs("keyed-local", "proxy-model", None, TOKENS, WHEN).cost_usd is None
    assert len(reports.of("warn")) == 1


def test_a_local_server_is_priced_when_the_config_prices_it() -> None:
    prices = {"ollama,qwen3": {"input": 0.1, "output": 0.2}}
    costs = book(Prices=prices).costs("ollama", "qwen3", None, TOKENS, WHEN)
    assert costs.cost_usd == pytest.approx((1000 * 0.1 + 500 * 0.2 + 2000 * 0.1 + 100 * 0.1) / 1e6)


def test_an_unknown_model_costs_null_with_one_hint_naming_the_prices_key() -> None:
    reports = Reports()
    prices = book(reports)
    for _ in range(3):
        costs = prices.costs("mystery", "foo-1", "claude-sonnet-4-5-20250929", TOKENS, WHEN)
        assert costs.cost_usd is None and costs.savings_usd is None
    hints = reports.of("warn")
    assert len(hints) == 1, hints
    assert '"Prices": {"mystery,foo-1": {"input"' in hints[0] and "cost null" in hints[0]
    assert json.loads(costs.prices or "")["cost"] is None


def test_a_request_without_tokens_costs_nothing_even_unpriced() -> None:
    reports = Reports()
    costs = book(reports).costs("mystery", "foo-1", "claude-sonnet-4-5-20250929", Tokens(), WHEN)
    assert (costs.cost_usd, costs.baseline_cost_usd, costs.savings_usd) == (0.0, 0.0, 0.0)
    assert reports.items == []  # a failed request is no reason to ask for a price


def test_the_baseline_is_the_requested_claude_model_at_anthropics_prices() -> None:
    costs = book().costs("deepseek", "deepseek-chat", "claude-sonnet-4-5-20250929", TOKENS, WHEN)
    baseline = (1000 * 3 + 500 * 15 + 2000 * 0.3 + 100 * 3.75) / 1e6  # Sonnet 4.5: 3 / 15 / 0.30 / 3.75
    assert costs.baseline_cost_usd == pytest.approx(baseline)
    assert costs.baseline_cost_usd == pytest.approx(genai_total("anthropic", "claude-sonnet-4-5-20250929", TOKENS))
    assert costs.savings_usd == pytest.approx(baseline - 0.000987)
    used = json.loads(costs.prices or "")["baseline"]
    assert used["priced_as"] == "anthropic,claude-sonnet-4-5" and used["output"] == 15.0


def test_a_configured_baseline_replaces_the_requested_model() -> None:
    costs = book(Baseline="anthropic,claude-opus-4-1").costs(
        "deepseek", "deepseek-chat", "claude-haiku-4-5-20251001", TOKENS, WHEN
    )
    # Opus 4.1: 15 / 75 / 1.50 / 18.75 per million, whatever the request asked for
    assert costs.baseline_cost_usd == pytest.approx((1000 * 15 + 500 * 75 + 2000 * 1.5 + 100 * 18.75) / 1e6)


def test_a_configured_baseline_of_a_configured_provider_uses_its_override() -> None:
    prices = {"deepseek,deepseek-reasoner": {"input": 2, "output": 4}}
    costs = book(Prices=prices, Baseline="deepseek,deepseek-reasoner").costs(
        "ollama", "qwen3", "claude-sonnet-4-5", TOKENS, WHEN
    )
    assert costs.cost_usd == 0.0
    assert costs.baseline_cost_usd == pytest.approx((1000 * 2 + 500 * 4 + 2000 * 2 + 100 * 2) / 1e6)
    assert costs.savings_usd == costs.baseline_cost_usd


def test_a_baseline_without_a_price_is_null_with_one_hint() -> None:
    reports = Reports()
    prices = book(reports, Baseline="anthropic,claude-nonexistent-9")
    for _ in range(2):
        costs = prices.costs("deepseek", "deepseek-chat", "claude-sonnet-4-5", TOKENS, WHEN)
        assert costs.cost_usd is not None and costs.baseline_cost_usd is None and costs.savings_usd is None
    assert len(reports.of("warn")) == 1 and "Baseline anthropic,claude-nonexistent-9" in reports.of("warn")[0]


def test_a_request_for_a_non_claude_model_has_no_baseline_and_no_hint() -> None:
    reports = Reports()
    costs = book(reports).costs("deepseek", "deepseek-chat", "deepseek,deepseek-chat", TOKENS, WHEN)
    assert costs.baseline_cost_usd is None and reports.items == []


def test_an_unknown_claude_model_gets_one_hint_about_its_baseline() -> None:
    reports = Reports()
    prices = book(reports)
    for _ in range(2):
        assert prices.costs("deepseek", "deepseek-chat", "claude-zeta-9", TOKENS, WHEN).baseline_cost_usd is None
    assert len(reports.of("warn")) == 1 and "claude-zeta-9" in reports.of("warn")[0]


def test_warm_resolves_every_configured_model_without_hints_for_priced_ones() -> None:
    reports = Reports()
    prices = book(reports, Prices={"mystery,foo-1": {"input": 1, "output": 1}})
    prices.warm()
    assert reports.items == []
    assert prices.quote("deepseek", "deepseek-reasoner", TOKENS, WHEN) is not None


def test_genai_prices_decimal_prices_are_read_exactly() -> None:
    quote = book().quote("deepseek", "deepseek-reasoner", TOKENS, WHEN)
    snapshot_price = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1_000_000),
        "deepseek-reasoner",
        provider_id="deepseek",
        genai_request_timestamp=datetime.fromtimestamp(WHEN, UTC),
    ).total_price
    assert quote is not None and Decimal(str(quote.price.input)) == snapshot_price


def test_model_names_chosen_by_clients_do_not_grow_memory_or_hints_without_bound() -> None:
    reports = Reports()
    prices = book(reports)
    for n in range(MAX_REMEMBERED + 100):
        prices.costs("deepseek", "deepseek-chat", f"claude-made-up-{n}", TOKENS, WHEN)
    assert len(reports.of("warn")) == MAX_REMEMBERED


def test_hints_for_client_named_models_stay_bounded() -> None:
    """Claude Code (or any client) names the requested model: a flood of made-up Claude names is hinted at most
    MAX_REMEMBERED times, and the set of hinted names stops growing there too."""
    from ccrouter.ledger import prices as prices_module

    reported: list[str] = []
    book = prices_module.PriceBook({}, [], report=lambda level, message: reported.append(message))
    tokens = Tokens(10, 10, 0, 0)
    for i in range(prices_module.MAX_REMEMBERED + 50):
        book.costs(None, None, f"claude-made-up-{i}", tokens, 0.0)
    assert len(reported) <= prices_module.MAX_REMEMBERED
    assert len(book._hinted) <= prices_module.MAX_REMEMBERED  # the set itself, not only the reports
