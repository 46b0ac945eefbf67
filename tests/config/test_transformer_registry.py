"""The transformer registry is the one list of transformer names: every entry builds, and nothing else lists them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ccrouter.config.model import Provider, TransformerUse
from ccrouter.config.transformers import DEFAULT_WIRE_FORMAT, TRANSFORMERS, Kind, Transformer
from ccrouter.providers.openai_chat.tweaks.hooks import Tweak
from ccrouter.providers.registry import load_factory, make_adapter
from tests.support.paths import REPO_ROOT

SRC = REPO_ROOT / "src" / "ccrouter"
REGISTRY = SRC / "config" / "transformers.py"

# Options that satisfy each entry's option check (the others take none).
GOOD_OPTIONS = {"maxtoken": {"max_tokens": 1024}}


def _provider(*names: str) -> Provider:
    uses = tuple(TransformerUse(name) for name in names)
    return Provider("p", "https://provider.test/v1/chat/completions", "sk-test", ("m",), uses)


@pytest.mark.parametrize("entry", [e for e in TRANSFORMERS.values() if e.kind is Kind.TWEAK], ids=lambda e: e.name)
def test_every_tweak_entry_builds_a_tweak(entry: Transformer) -> None:
    options = GOOD_OPTIONS.get(entry.name)
    assert entry.check is None or entry.check(options) is None
    if entry.factory is None:  # `openai`: the default chat format, named explicitly
        assert entry.name == "openai"
        return
    assert entry.factory.startswith("ccrouter.providers.openai_chat.tweaks.")
    assert isinstance(load_factory(entry)(options), Tweak)


@pytest.mark.parametrize("entry", [e for e in TRANSFORMERS.values() if e.kind is Kind.ADAPTER], ids=lambda e: e.name)
def test_every_adapter_entry_builds_the_adapter_it_names(entry: Transformer) -> None:
    factory = load_factory(entry)
    assert callable(factory)
    provider = _provider(entry.name)
    assert provider.adapter_kind("m") == entry.name
    adapter = make_adapter(provider, "m")
    assert all(callable(getattr(adapter, method)) for method in ("build_request", "parse_reply", "stream_translator"))
    assert type(adapter).__module__.startswith("ccrouter.providers.")


def test_without_a_wire_format_name_a_provider_speaks_openai_chat() -> None:
    from ccrouter.providers.openai_chat.adapter import OpenAIChatAdapter

    provider = _provider("openai", "deepseek")
    assert provider.adapter_kind("m") == DEFAULT_WIRE_FORMAT
    assert isinstance(make_adapter(provider, "m"), OpenAIChatAdapter)
    assert _provider("deepseek", "anthropic", "gemini").adapter_kind("m") == "anthropic"  # the first one wins


def test_entries_are_keyed_by_their_lower_case_name() -> None:
    assert all(name == entry.name == name.lower() for name, entry in TRANSFORMERS.items())


def _listed_names(path: Path) -> list[tuple[int, list[str]]]:
    """Collections in `path` that spell out three or more registry names: a second list of them."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            items: list[ast.expr | None] = list(node.keys)
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = list(node.elts)
        else:
            continue
        names = [i.value for i in items if isinstance(i, ast.Constant) and i.value in TRANSFORMERS]
        if len(names) >= 3:
            found.append((node.lineno, names))
    return found


def test_no_other_module_lists_transformer_names() -> None:
    listed = {
        str(path.relative_to(SRC)): found
        for path in SRC.rglob("*.py")
        if path != REGISTRY and (found := _listed_names(path))
    }
    assert listed == {}
