"""A user's rate limit (gateway/user_limits.py): requests and tokens over a sliding minute, corrected by the usage
the provider reported, with when it frees up."""

from __future__ import annotations

import pytest

from ccrouter.config.users_section import RateLimit
from ccrouter.gateway.user_limits import InMemoryRateLimiter, UserRateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_per_minute_cut_at_the_limit_and_free_up_as_the_minute_slides() -> None:
    clock = Clock()
    limiter = InMemoryRateLimiter(clock=clock)
    limit = RateLimit(requests_per_minute=3)
    for step in range(3):
        limiter.admit_now("ana", limit, 10)
        clock.now += 10 * (step + 1)  # at 1000, 1010, 1030
    clock.now = 1040.0
    with pytest.raises(UserRateLimited) as refused:
        limiter.admit_now("ana", limit, 10)
    assert refused.value.status == 429 and refused.value.error_type == "rate_limit_error"
    assert refused.value.retry_after_s == 20  # the request of 1000 leaves the window at 1060
    assert "3 requests per minute" in refused.value.message
    limiter.admit_now("bo", limit, 10)  # another user has a window of their own
    clock.now = 1060.0
    limiter.admit_now("ana", limit, 10)


def test_tokens_per_minute_count_the_estimate_then_what_the_provider_reported() -> None:
    clock = Clock()
    limiter = InMemoryRateLimiter(clock=clock)
    limit = RateLimit(tokens_per_minute=1000)
    first = limiter.admit_now("ana", limit, 600)
    with pytest.raises(UserRateLimited, match="1000 tokens per minute") as refused:
        limiter.admit_now("ana", limit, 600)
    assert refused.value.retry_after_s == 60
    limiter.settle(first, 300)  # it used fewer than estimated
    second = limiter.admit_now("ana", limit, 600)
    limiter.settle(second, 700)  # and this one more: 1000 in the window now
    clock.now += 30
    with pytest.raises(UserRateLimited):
        limiter.admit_now("ana", limit, 1)


def test_a_lone_request_above_the_token_limit_passes_an_empty_window_then_fills_it() -> None:
    clock = Clock()
    limiter = InMemoryRateLimiter(clock=clock)
    limit = RateLimit(tokens_per_minute=100)
    limiter.admit_now("ana", limit, 5000)
    with pytest.raises(UserRateLimited):
        limiter.admit_now("ana", limit, 1)
    clock.now += 60
    limiter.admit_now("ana", limit, 1)


def test_a_settle_after_the_request_left_the_window_changes_nothing() -> None:
    clock = Clock()
    limiter = InMemoryRateLimiter(clock=clock)
    limit = RateLimit(tokens_per_minute=100)
    old = limiter.admit_now("ana", limit, 50)
    clock.now += 61
    limiter.admit_now("ana", limit, 60)  # trims `old` out of the window
    limiter.settle(old, 10_000)  # a long stream that ended after its minute
    limiter.admit_now("ana", limit, 40)  # 60 + 40: still fits
