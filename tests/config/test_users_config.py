"""The config's `Users`: every mistake is refused at load time with a message naming the key path and the fix."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from ccrouter.config.loading import parse_config
from ccrouter.config.users_section import RateLimit, key_digest
from ccrouter.errors import ConfigError

APIKEY = "admin-key-0123456789"
ANA_KEY = "ccr_ana-key"
ANA = {"name": "ana", "key_sha256": hashlib.sha256(ANA_KEY.encode()).hexdigest()}


def config(users: Any, **extra: Any) -> dict[str, Any]:
    return {
        "APIKEY": APIKEY,
        "Providers": [{"name": "p", "api_base_url": "http://127.0.0.1:1/v1", "api_key": "k", "models": ["m", "n"]}],
        "Router": {"default": "p,m"},
        "Users": users,
        **extra,
    }


def load(data: dict[str, Any]) -> Any:
    import json

    return parse_config(json.dumps(data), {})


def test_a_user_is_read_with_routes_limits_and_budgets_of_their_own() -> None:
    users = load(
        config(
            [
                {
                    **ANA,
                    "key_sha256": ANA["key_sha256"].upper(),
                    "routes": ["default", "BACKGROUND", "explicit"],
                    "rate_limit": {"requests_per_minute": 60, "tokens_per_minute": 400000},
                    "budgets": [{"name": "daily", "period": "day", "usd": 2}],
                },
                {"name": "bo.b-2_x", "key_sha256": key_digest("other")},
            ]
        )
    ).users
    ana, bob = users.entries
    assert users.find(key_digest(ANA_KEY)) is ana and users.find(key_digest("other")) is bob
    assert ana.routes == {"default", "background", "explicit"} and bob.routes is None
    assert ana.may_use("explicit") and not ana.may_use("think") and bob.may_use("think")
    assert ana.rate_limit == RateLimit(60, 400000) and bob.rate_limit is None
    assert [rule.name for rule in ana.budgets] == ["ana/daily"]


def test_without_users_nothing_changes() -> None:
    data = config([])
    del data["Users"]
    assert not load(data).users


@pytest.mark.parametrize(
    ("users", "extra", "message"),
    [
        ([ANA], {"APIKEY": None}, "Users is set but APIKEY is not. Set APIKEY"),
        ({"ana": 1}, {}, "Users must be a list"),
        (["ana"], {}, r"Users\[0\] is 'ana'; it must be an object like"),
        ([{**ANA, "key": "x"}], {}, r"Users\[0\] has the unknown key 'key'"),
        ([{**ANA, "name": "Ana"}], {}, r"Users\[0\].name is 'Ana'; a user's name is 1 to 64 of a-z"),
        ([{**ANA, "name": "admin"}], {}, r'Users\[0\].name is "admin", the name requests made with APIKEY'),
        ([{**ANA, "key_sha256": "abc"}], {}, r"Users\[0\].key_sha256 must be the SHA-256 .*`ccr user add NAME`"),
        ([ANA, {**ANA, "key_sha256": key_digest("b")}], {}, r"Users\[1\].name 'ana' is used by two users"),
        (
            [ANA, {**ANA, "name": "bo"}],
            {},
            r"Users\[1\].key_sha256 is the same as user ana's: one key would be two people",
        ),
        ([{**ANA, "key_sha256": key_digest(APIKEY)}], {}, r"Users\[0\].key_sha256 is the hash of APIKEY"),
        ([{**ANA, "routes": "default"}], {}, r"Users\[0\].routes must be a list of routes"),
        ([{**ANA, "routes": ["default", "fast"]}], {}, r"Users\[0\].routes\[1\] is 'fast'; a user's routes are among"),
        ([{**ANA, "rate_limit": {"rpm": 1}}], {}, r"Users\[0\].rate_limit has the unknown key 'rpm'"),
        ([{**ANA, "rate_limit": {"requests_per_minute": 0}}], {}, r"rate_limit.requests_per_minute is 0; it must"),
        ([{**ANA, "budgets": [{"name": "d", "period": "day", "usd": -1}]}], {}, r"Users\[0\].budgets\[0\].usd is -1"),
    ],
)
def test_mistakes_name_the_key_path_and_the_fix(users: Any, extra: dict[str, Any], message: str) -> None:
    data = config(users, **extra)
    data = {key: value for key, value in data.items() if value is not None}
    with pytest.raises(ConfigError, match=message):
        load(data)
