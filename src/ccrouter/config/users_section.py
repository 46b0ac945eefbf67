"""The config's `Users`: the people one router serves, each with a key of their own (only its SHA-256 is written),
the routes they may use, a rate limit and budgets of their own.

`{"name": "ana", "key_sha256": "<64 hex>", "routes": ["default", "background"], "rate_limit":
{"requests_per_minute": 60, "tokens_per_minute": 400000}, "budgets": [<as Budgets>]}`. Only `name` and
`key_sha256` are required: without `routes` every route is open, without `rate_limit` nothing is counted, without
`budgets` only the config's `Budgets` apply. Besides the `Router` keys, `routes` may name "explicit" (a request
whose model is "provider,model", or a model picked in `/model`) and "custom" (what CUSTOM_ROUTER_PATH chose): both
reach targets outside the user's routes, so a user with `routes` gets them only when they are listed.

Users need an `APIKEY`: it stays the admin key (the dashboard, `/metrics`, every route), and only with it does the
router listen beyond loopback. `ccr user add` writes the entries (`user_edit.py`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from hashlib import sha256
from typing import Any

from ccrouter.config.budget_rules import BudgetRule, rule_list
from ccrouter.config.model import Provider
from ccrouter.config.scalars import positive_int, read_typed, reject_unknown_keys, shown
from ccrouter.config.scenarios import ROUTE_SCENARIOS, Scenario
from ccrouter.errors import ConfigError

ADMIN = "admin"  # what records and the ledger say for a request made with APIKEY; no user may take the name
USER_ROUTES: tuple[str, ...] = (*ROUTE_SCENARIOS, Scenario.EXPLICIT, Scenario.CUSTOM)
MAX_NAME_CHARS = 64
_NAME = re.compile(r"[a-z0-9._-]+\Z")
_DIGEST = re.compile(r"[0-9a-f]{64}\Z")
_KEYS = ("name", "key_sha256", "routes", "rate_limit", "budgets")
_LIMIT_KEYS = ("requests_per_minute", "tokens_per_minute")
_EXAMPLE = '{"name": "ana", "key_sha256": "<sha256 of the key>"}'


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A user's requests and tokens per minute (None: not limited)."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


@dataclass(frozen=True, slots=True)
class User:
    name: str
    key_sha256: str  # lower-case hex
    routes: frozenset[str] | None = None  # scenario names; None: every route
    rate_limit: RateLimit | None = None
    budgets: tuple[BudgetRule, ...] = ()  # named "<user>/<name>", counting this user's requests only

    def may_use(self, scenario: str) -> bool:
        return self.routes is None or scenario in self.routes

    def routes_text(self) -> str:
        if self.routes is None:
            return "all"
        return ", ".join(route for route in USER_ROUTES if route in self.routes) or "none"


@dataclass(frozen=True)
class Users:
    """The `Users` of one config, found by the SHA-256 (hex) of the key a request sends."""

    entries: tuple[User, ...] = ()
    by_digest: Mapping[str, User] = field(default_factory=dict)

    def find(self, digest: str) -> User | None:
        return self.by_digest.get(digest)

    def __bool__(self) -> bool:
        return bool(self.entries)


def key_digest(key: str) -> str:
    """The hex SHA-256 of a key as a client sends it (UTF-8): what `key_sha256` holds."""
    return sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def users_section(data: Mapping[str, Any], providers: list[Provider], apikey: str | None) -> Users:
    """The `Users` list of the config object `data`; `apikey` is the config's APIKEY (Users need one)."""
    entries: list[Any] = read_typed(data, "Users", list, [], like=f"[{_EXAMPLE}]")
    if entries and not apikey:
        raise ConfigError(
            "Users is set but APIKEY is not. Set APIKEY (the admin key, at least 16 characters) first: users' keys "
            "work beside it, and without it the router only serves this machine."
        )
    users: list[User] = []
    for index, entry in enumerate(entries):
        where = f"Users[{index}]"
        user = _user(entry, where, providers)
        _check_unique(user, users, where, apikey)
        users.append(user)
    return Users(tuple(users), {user.key_sha256: user for user in users})


def _user(entry: Any, where: str, providers: list[Provider]) -> User:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is {shown(entry)}; it must be an object like {_EXAMPLE}.")
    reject_unknown_keys(entry, _KEYS, where, whose="a user's")
    name = _name(entry.get("name"), f"{where}.name")
    budgets = rule_list(read_typed(entry, "budgets", list, [], prefix=f"{where}."), f"{where}.budgets", providers)
    return User(
        name=name,
        key_sha256=_digest(entry.get("key_sha256"), f"{where}.key_sha256"),
        routes=_routes(entry.get("routes"), f"{where}.routes"),
        rate_limit=_rate_limit(entry.get("rate_limit"), f"{where}.rate_limit"),
        budgets=tuple(replace(rule, name=f"{name}/{rule.name}") for rule in budgets),
    )


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value) or len(value) > MAX_NAME_CHARS:
        raise ConfigError(
            f"{where} is {shown(value)}; a user's name is 1 to {MAX_NAME_CHARS} of a-z, 0-9, '.', '_' and '-', "
            'like "ana" (the ledger, logs and `ccr usage --by user` show it).'
        )
    if value == ADMIN:
        raise ConfigError(f'{where} is "{ADMIN}", the name requests made with APIKEY go by; pick another name.')
    return value


def _digest(value: Any, where: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if text is None or not _DIGEST.match(text):
        raise ConfigError(
            f"{where} must be the SHA-256 of the user's key as 64 hexadecimal digits, not {shown(value)}. "
            "`ccr user add NAME` makes a key and writes its hash for you."
        )
    return text


def _routes(value: Any, where: str) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ConfigError(f'{where} must be a list of routes like ["default", "background"], not {shown(value)}.')
    known = {route.casefold(): route for route in USER_ROUTES}
    routes: set[str] = set()
    for index, item in enumerate(value):
        route = known.get(item.strip().casefold()) if isinstance(item, str) else None
        if route is None:
            raise ConfigError(f"{where}[{index}] is {shown(item)}; a user's routes are among {', '.join(USER_ROUTES)}.")
        routes.add(route)
    return frozenset(routes)


def _rate_limit(value: Any, where: str) -> RateLimit | None:
    if value is None:
        return None
    like = '{"requests_per_minute": 60, "tokens_per_minute": 400000}'
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{where} must be an object like {like}, not {shown(value)}.")
    reject_unknown_keys(value, _LIMIT_KEYS, where)
    limits: dict[str, int | None] = {}
    for key in _LIMIT_KEYS:
        found = value.get(key)
        limits[key] = None if found is None else positive_int(found)
        if found is not None and limits[key] is None:
            raise ConfigError(f"{where}.{key} is {shown(found)}; it must be a whole number above 0, like in {like}.")
    return RateLimit(limits["requests_per_minute"], limits["tokens_per_minute"])


def _check_unique(user: User, earlier: list[User], where: str, apikey: str | None) -> None:
    if any(other.name == user.name for other in earlier):
        raise ConfigError(f"{where}.name {user.name!r} is used by two users; give each its own name.")
    twin = next((other for other in earlier if other.key_sha256 == user.key_sha256), None)
    if twin is not None:
        raise ConfigError(
            f"{where}.key_sha256 is the same as user {twin.name}'s: one key would be two people. Give "
            f"{user.name!r} a key of its own (`ccr user remove {user.name}`, then `ccr user add {user.name}`)."
        )
    if apikey and key_digest(apikey) == user.key_sha256:
        raise ConfigError(
            f"{where}.key_sha256 is the hash of APIKEY, the admin key: {user.name!r} would be admin. Give the user "
            f"a key of its own (`ccr user remove {user.name}`, then `ccr user add {user.name}`)."
        )
