"""The pure parts of resilience: config keys, Retry-After parsing, and the cool-down bookkeeping."""

from __future__ import annotations

import json
import time
from email.utils import formatdate
from typing import Any

import pytest

from ccrouter.config.loading import parse_config
from ccrouter.config.model import Config
from ccrouter.config.policy import CooldownPolicy, RetryPolicy
from ccrouter.errors import ConfigError
from ccrouter.gateway.cooldowns import Cooldowns
from ccrouter.gateway.dispatch import is_retryable, retry_after_seconds
from ccrouter.gateway.records import Attempt, attempts_header

PROVIDERS = [
    {"name": "a", "api_base_url": "http://127.0.0.1:1/v1/chat/completions", "api_key": "k", "models": ["m1", "m2"]},
    {"name": "b", "api_base_url": "http://127.0.0.1:2/v1/chat/completions", "api_key": "k", "models": ["m3"]},
]


def load(**extra: Any) -> Config:
    data = {"Providers": PROVIDERS, "Router": {"default": "a,m1"}, **extra}
    return parse_config(json.dumps(data), {})


def test_defaults_suit_claude_code() -> None:
    config = load()
    assert config.retry == RetryPolicy(2, 1000, 30_000, 30_000, 0)
    assert config.cooldown == CooldownPolicy(3, 60_000, 60_000, 300_000)
    assert config.max_body_bytes == 64 * 1024 * 1024


def test_retry_and_cooldown_settings_are_read() -> None:
    config = load(RETRY={"max_retries": 0, "attempt_timeout_ms": 5000}, COOLDOWN={"failures": 1}, MAX_REQUEST_BODY_MB=2)
    assert config.retry.max_retries == 0 and config.retry.attempt_timeout_ms == 5000
    assert config.retry.initial_backoff_ms == 1000  # unset keys keep their default
    assert config.cooldown.failures == 1 and config.max_body_bytes == 2 * 1024 * 1024


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"RETRY": {"max_retry": 1}}, "RETRY.max_retry is not a setting; use max_retries"),
        ({"RETRY": {"max_retries": -1}}, "RETRY.max_retries is -1; it must be a whole number"),
        ({"RETRY": {"max_retries": True}}, "RETRY.max_retries is True"),
        ({"RETRY": 3}, 'RETRY must be an object, like {"max_retries": 2'),
        ({"COOLDOWN": {"failures": 0}}, "COOLDOWN.failures must be 1 or more"),
        ({"MAX_REQUEST_BODY_MB": "big"}, "MAX_REQUEST_BODY_MB is 'big'"),
        ({"MAX_REQUEST_BODY_MB": 0}, "MAX_REQUEST_BODY_MB is 0"),
    ],
)
def test_bad_settings_name_the_key_and_the_fix(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(**extra)
    assert message in str(raised.value)


def test_router_list_form_is_the_target_then_its_fallbacks() -> None:
    config = load(
        Router={"default": ["a,m1", "b,m3"], "think": ["a,m2"]},
        fallback={"default": ["b,m3", "a,m2"], "think": ["b,m3"]},
    )
    assert config.routes["default"].label == "a,m1"
    # The route's own list first, then the `fallback` section, without repeats.
    assert [t.label for t in config.fallback["default"]] == ["b,m3", "a,m2"]
    assert config.routes["think"].label == "a,m2"
    assert [t.label for t in config.fallback["think"]] == ["b,m3"]


def test_router_list_form_entries_are_validated() -> None:
    with pytest.raises(ConfigError) as raised:
        load(Router={"default": ["a,m1", "b-m3"]})
    assert "Router.default[1] is 'b-m3', but it must be \"provider,model\"" in str(raised.value)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({}, None),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "1e400"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after-ms": "inf", "retry-after": "2"}, 2.0),
    ],
)
def test_retry_after_forms(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers) == seconds


def test_retry_after_as_an_http_date() -> None:
    seconds = retry_after_seconds({"retry-after": formatdate(time.time() + 20, usegmt=True)})
    assert seconds is not None and 18 <= seconds <= 20


@pytest.mark.parametrize(("status", "retryable"), [(408, True), (409, True), (429, True), (500, True), (529, True)])
def test_retryable_statuses(status: int, retryable: bool) -> None:
    assert is_retryable(status) is retryable


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 200])
def test_not_retryable_statuses(status: int) -> None:
    assert not is_retryable(status)


POLICY = CooldownPolicy(failures=3, window_ms=60_000, duration_ms=30_000, max_duration_ms=120_000)


def test_three_failures_within_the_window_start_a_cooldown() -> None:
    cooldowns = Cooldowns()
    assert cooldowns.failed("a,m1", "HTTP 500", 100.0, POLICY) == 0
    assert cooldowns.failed("a,m1", "HTTP 500", 110.0, POLICY) == 0
    assert cooldowns.cooling("a,m1", 111.0) is None
    assert cooldowns.failed("a,m1", "HTTP 502", 120.0, POLICY) == 30
    state = cooldowns.cooling("a,m1", 125.0)
    assert state is not None and state.seconds_left == 25 and state.reason == "HTTP 502"
    assert cooldowns.cooling("a,m1", 150.0) is None  # rested
    assert cooldowns.cooling("b,m3", 125.0) is None  # others are not affected


def test_failures_outside_the_window_do_not_count() -> None:
    cooldowns = Cooldowns()
    cooldowns.failed("a,m1", "x", 0.0, POLICY)
    cooldowns.failed("a,m1", "x", 30.0, POLICY)
    assert cooldowns.failed("a,m1", "x", 61.5, POLICY) == 0  # the first fell out of the window


def test_a_target_that_mostly_succeeds_is_not_rested() -> None:
    """One failure in twenty: failures are known at once, successes only at their first token, so several
    failures can land between two successes; what counts is the share."""
    cooldowns = Cooldowns()
    now = 0.0
    for i in range(200):
        now += 0.01
        if i % 20 in (17, 18, 19):  # bursts of three failures, and plenty of successes around them
            assert cooldowns.failed("a,m1", "HTTP 500", now, POLICY) == 0
        else:
            cooldowns.succeeded("a,m1", now - 0.5, now, POLICY)
    assert cooldowns.cooling("a,m1", now) is None


def test_retry_after_cools_at_once_within_the_cap_and_is_logged_once() -> None:
    cooldowns = Cooldowns()
    assert cooldowns.failed("a,m1", "HTTP 429", 0.0, POLICY, retry_after_s=45) == 45
    assert cooldowns.failed("a,m1", "HTTP 429", 0.1, POLICY, retry_after_s=60) == 0  # already resting: extended
    state = cooldowns.cooling("a,m1", 1.0)
    assert state is not None and state.seconds_left == 59.1
    assert cooldowns.failed("b,m3", "HTTP 429", 0.0, POLICY, retry_after_s=3600) == 120
    assert [c.target for c in cooldowns.all_cooling(1.0)] == ["a,m1", "b,m3"]


def test_only_a_success_that_started_during_the_rest_ends_it() -> None:
    cooldowns = Cooldowns()
    cooldowns.failed("a,m1", "HTTP 429", 10.0, POLICY, retry_after_s=30)
    cooldowns.succeeded("a,m1", started=9.0, now=10.5, policy=POLICY)  # in flight before the 429
    assert cooldowns.cooling("a,m1", 11.0) is not None
    cooldowns.succeeded("a,m1", started=12.0, now=12.5, policy=POLICY)  # tried anyway (every target was resting)
    assert cooldowns.cooling("a,m1", 13.0) is None


def test_the_table_of_targets_is_bounded() -> None:
    cooldowns = Cooldowns(capacity=2)
    for name in ("a", "b", "c"):
        cooldowns.failed(name, "x", 0.0, POLICY, retry_after_s=10)
    assert [c.target for c in cooldowns.all_cooling(1.0)] == ["b", "c"]


def test_attempts_header_lists_every_target_in_order() -> None:
    config = load()
    a_m1, b_m3, a_m2 = (config.resolve(label) for label in ("a,m1", "b,m3", "a,m2"))
    assert a_m1 is not None and b_m3 is not None and a_m2 is not None
    attempts = [Attempt(a_m1, 0, "cooling down"), Attempt(b_m3, 429, "busy"), Attempt(a_m2, 200)]
    assert attempts_header(attempts) == "a,m1=cooling, b,m3=429, a,m2=200"
    assert attempts[1].as_dict() == {"target": "b,m3", "status": 429, "error": "busy", "ms": 0.0}
