"""`ccr init`'s catalogue (starter_catalogue.json) is consistent: every name it uses exists."""

from __future__ import annotations

from ccrouter.config.scenarios import ROUTE_SCENARIOS
from ccrouter.config.starter import CATALOGUE, PREFERENCE
from ccrouter.config.transformers import TRANSFORMERS


def test_every_entry_uses_known_transformers_routes_and_its_own_models() -> None:
    for entry in CATALOGUE:
        assert entry.transformer is None or entry.transformer.lower() in TRANSFORMERS, entry.name
        assert set(entry.picks) <= set(ROUTE_SCENARIOS), entry.name
        assert set(entry.picks.values()) <= set(entry.models), entry.name
        assert entry.vision <= set(entry.models), entry.name
        assert entry.env and entry.env.endswith("_API_KEY") and entry.url.startswith("https://"), entry.name
    assert len({entry.name for entry in CATALOGUE}) == len({entry.env for entry in CATALOGUE}) == len(CATALOGUE)


def test_every_route_ranks_known_providers_only() -> None:
    assert set(PREFERENCE) == set(ROUTE_SCENARIOS)
    names = {entry.name for entry in CATALOGUE} | {"ollama"}
    for route, ranked in PREFERENCE.items():
        assert set(ranked) <= names and len(set(ranked)) == len(ranked), route
