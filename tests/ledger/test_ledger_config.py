"""The ledger's config keys: LEDGER, Prices, Baseline and Budgets read into LedgerSettings; every unusable value
refused with its key path, what it holds and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from ccrouter.config.budget_rules import BudgetScope
from ccrouter.config.ledger_section import Price
from ccrouter.errors import ConfigError
from tests.ledger.support import settings_with


def refused(**keys: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_with(**keys)
    return str(caught.value)


def test_defaults() -> None:
    settings = settings_with()
    assert settings.enabled and settings.prices == {} and settings.baseline is None and settings.budgets == ()


@pytest.mark.parametrize(("value", "enabled"), [(False, False), ("false", False), (True, True), ("1", True)])
def test_ledger_switch(value: Any, enabled: bool) -> None:
    assert settings_with(LEDGER=value).enabled is enabled


def test_ledger_switch_must_be_a_boolean() -> None:
    assert refused(LEDGER="sometimes") == "LEDGER is 'sometimes'; it must be true or false."


# ---------------------------------------------------------------------------------------------------------------
# Prices


def test_prices_are_keyed_by_the_providers_own_spelling_and_cache_prices_default_to_input() -> None:
    settings = settings_with(Prices={"DeepSeek,DEEPSEEK-CHAT": {"input": "0.27", "output": 1.1}})
    assert settings.prices == {"deepseek,deepseek-chat": Price(0.27, 1.1, 0.27, 0.27)}


def test_a_full_price_and_a_free_one() -> None:
    prices = {
        "deepseek,deepseek-chat": {"input": 0.27, "output": 1.10, "cache_read": 0.07, "cache_write": 0.27},
        "ollama,qwen3": {"input": 0, "output": 0},
    }
    assert settings_with(Prices=prices).prices == {
        "deepseek,deepseek-chat": Price(0.27, 1.10, 0.07, 0.27),
        "ollama,qwen3": Price(0, 0, 0, 0),
    }


def test_prices_of_an_unknown_provider_are_refused_by_name() -> None:
    message = refused(Prices={"deepsea,deepseek-chat": {"input": 1, "output": 1}})
    assert message.startswith("Prices['deepsea,deepseek-chat'] names provider 'deepsea', which is not in Providers")


def test_prices_of_an_unknown_model_are_refused_by_name() -> None:
    message = refused(Prices={"deepseek,deepseek-v9": {"input": 1, "output": 1}})
    assert "names model 'deepseek-v9', which provider 'deepseek' does not list" in message


def test_a_price_key_without_a_comma_is_refused() -> None:
    assert 'must be "provider,model"' in refused(Prices={"deepseek": {"input": 1, "output": 1}})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-0.5, "Prices['deepseek,deepseek-chat'].output is -0.5; it must be a number of USD per million tokens, 0 "
         "or more, like 0.27."),
        ("cheap", "Prices['deepseek,deepseek-chat'].output is 'cheap'; it must be a number of USD per million"),
        (True, "Prices['deepseek,deepseek-chat'].output is True; it must be a number"),
    ],
)  # fmt: skip
def test_a_negative_or_non_numeric_price_is_named(value: Any, expected: str) -> None:
    assert refused(Prices={"deepseek,deepseek-chat": {"input": 1, "output": value}}).startswith(expected)


def test_an_unknown_price_kind_is_named() -> None:
    message = refused(Prices={"deepseek,deepseek-chat": {"input": 1, "output": 1, "cache_hit": 0.1}})
    assert message == (
        "Prices['deepseek,deepseek-chat'] has the unknown key 'cache_hit'; its keys are input, output, cache_read, "
        "cache_write (USD per million tokens)."
    )


def test_a_price_needs_input_and_output() -> None:
    message = refused(Prices={"deepseek,deepseek-chat": {"input": 1}})
    assert message.startswith("Prices['deepseek,deepseek-chat'] lacks output; give at least input and output")


def test_a_price_must_be_an_object() -> None:
    assert "must be an object of USD per million tokens" in refused(Prices={"deepseek,deepseek-chat": 0.27})
    assert refused(Prices=[1]).startswith("Prices must be an object, like {")


def test_the_same_model_priced_twice_is_refused() -> None:
    both = {"deepseek,deepseek-chat": {"input": 1, "output": 1}, "DeepSeek,deepseek-chat": {"input": 2, "output": 2}}
    assert "prices the same model as Prices['deepseek,deepseek-chat']" in refused(Prices=both)


# ---------------------------------------------------------------------------------------------------------------
# Baseline


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("DeepSeek,deepseek-reasoner", "deepseek,deepseek-reasoner"),  # a configured target, as Providers spell it
        ("anthropic,claude-opus-4-1", "anthropic,claude-opus-4-1"),  # a configured provider's unlisted model
        ("openai, gpt-4o", "openai,gpt-4o"),  # a provider only genai-prices knows
    ],
)
def test_baseline(written: str, read: str) -> None:
    assert settings_with(Baseline=written).baseline == read


@pytest.mark.parametrize("value", ["claude-sonnet-4-5", ",gpt-4o", "openai,"])
def test_a_baseline_must_be_provider_comma_model(value: str) -> None:
    assert refused(Baseline=value).startswith(f'Baseline is {value!r}, but it must be "provider,model"')


# ---------------------------------------------------------------------------------------------------------------
# Budgets


def budget(**fields: Any) -> dict[str, Any]:
    return {"name": "daily", "scope": "all", "period": "day", "usd": 5.0, **fields}


def test_a_full_budget() -> None:
    (rule,) = settings_with(
        Budgets=[
            budget(scope="model:DeepSeek,deepseek-chat", period="month", usd="7.5", warn_at=0.9, then="ollama,qwen3")
        ]
    ).budgets
    assert rule.scope == BudgetScope("model", provider="deepseek", model="deepseek-chat")
    assert (rule.name, rule.period, rule.usd, rule.warn_at, rule.then) == (
        "daily",
        "month",
        7.5,
        0.9,
        ("ollama", "qwen3"),
    )


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("all", BudgetScope("all")),
        ("provider:DEEPSEEK", BudgetScope("provider", provider="deepseek")),
        ("route:longcontext", BudgetScope("route", route="longContext")),
        ("route:subagent:Explore", BudgetScope("route", route="subagent:Explore")),
    ],
)
def test_scopes(scope: str, expected: BudgetScope) -> None:
    assert settings_with(Budgets=[budget(scope=scope)]).budgets[0].scope == expected


def test_a_missing_scope_is_all_and_warn_at_defaults_to_80_percent() -> None:
    rule = settings_with(Budgets=[{"name": "d", "period": "day", "usd": 1}]).budgets[0]
    assert rule.scope == BudgetScope("all") and rule.warn_at == 0.8 and rule.then is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"scope": "everything"}, 'Budgets[0].scope is \'everything\'; it must be "all", "provider:NAME"'),
        ({"scope": "provider:deepsea"}, "Budgets[0].scope names provider 'deepsea', which is not in Providers"),
        ({"scope": "route:fast"}, "Budgets[0].scope names route 'fast'; use one of default, background, think"),
        ({"scope": "model:deepseek,v9"}, "Budgets[0].scope names model 'v9', which provider 'deepseek' does not"),
        ({"scope": "team:x"}, "Budgets[0].scope is 'team:x'; it must be \"all\""),
        ({"period": "week"}, 'Budgets[0].period is \'week\'; it must be "day" or "month" (in local time).'),
        ({"period": None}, 'Budgets[0].period is null; it must be "day" or "month"'),
        ({"usd": 0}, "Budgets[0].usd is 0; it must be a number of US dollars above 0, like 5.0."),
        ({"usd": -3}, "Budgets[0].usd is -3; it must be a number of US dollars above 0"),
        ({"usd": "lots"}, "Budgets[0].usd is 'lots'; it must be a number of US dollars above 0"),
        ({"warn_at": 0}, "Budgets[0].warn_at is 0; it must be a share of usd above 0 and at most 1, like 0.8."),
        ({"warn_at": 1.5}, "Budgets[0].warn_at is 1.5; it must be a share of usd above 0 and at most 1"),
        ({"name": ""}, "Budgets[0].name must be a non-empty string"),
        ({"limit": 5}, "Budgets[0] has the unknown key 'limit'; a budget's keys are name, scope, period, usd"),
        ({"then": "nowhere,x"}, "Budgets[0].then names provider 'nowhere', which is not in Providers"),
    ],
)
def test_an_unusable_budget_is_named(fields: dict[str, Any], expected: str) -> None:
    assert refused(Budgets=[budget(**fields)]).startswith(expected)


@pytest.mark.parametrize(
    ("scope", "then", "expected"),
    [
        ("all", "ollama,qwen3", 'scope "all" covers every request, so switching to it would not stop the spending'),
        ("provider:ollama", "ollama,qwen3", "lies inside the budget's own scope 'provider:ollama'"),
        ("model:deepseek,deepseek-chat", "DeepSeek,deepseek-chat", "inside the budget's own scope"),
    ],
)
def test_then_must_lie_outside_the_scope(scope: str, then: str, expected: str) -> None:
    assert expected in refused(Budgets=[budget(scope=scope, then=then)])


def test_then_may_be_another_model_of_the_scoped_provider_or_any_target_of_a_route() -> None:
    rules = settings_with(
        Budgets=[
            budget(name="a", scope="model:deepseek,deepseek-reasoner", then="deepseek,deepseek-chat"),
            budget(name="b", scope="route:think", then="deepseek,deepseek-chat"),
        ]
    ).budgets
    assert [rule.then for rule in rules] == [("deepseek", "deepseek-chat")] * 2


def test_budget_names_are_unique_and_entries_objects() -> None:
    assert "is used by two budgets" in refused(Budgets=[budget(name="x"), budget(name="X")])
    assert refused(Budgets=["daily"]).startswith("Budgets[0] is 'daily'; it must be an object like {")
    assert refused(Budgets={"name": "x"}).startswith("Budgets must be a list, like [{")
