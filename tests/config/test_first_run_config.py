"""The config as a first run meets it: a key variable that is exported but empty, and `ccr model` filling a route
that `ccr init` left commented out."""

from __future__ import annotations

import json
from pathlib import Path

import json5
import pytest

from ccrouter.config import route_edit, starter
from ccrouter.config.loading import parse_config
from ccrouter.errors import ConfigError

DEEPSEEK = {
    "name": "deepseek",
    "api_base_url": "https://api.deepseek.com/chat/completions",
    "api_key": "$DEEPSEEK_API_KEY",
    "models": ["deepseek-chat"],
}


@pytest.mark.parametrize("written", ["$DEEPSEEK_API_KEY", "${DEEPSEEK_API_KEY}", "pre-$DEEPSEEK_API_KEY"])
def test_an_empty_key_variable_stops_the_load_like_an_unset_one(written: str) -> None:
    text = json.dumps(
        {"Providers": [{**DEEPSEEK, "api_key": written}], "Router": {"default": "deepseek,deepseek-chat"}}
    )
    with pytest.raises(ConfigError) as empty:
        parse_config(text, {"DEEPSEEK_API_KEY": ""})
    message = str(empty.value)
    assert "Providers[0].api_key" in message and "$DEEPSEEK_API_KEY" in message
    assert "set but empty" in message and "export DEEPSEEK_API_KEY=" in message
    with pytest.raises(ConfigError, match=r"Providers\[0\]\.api_key references \$DEEPSEEK_API_KEY, which is not set"):
        parse_config(text, {})
    assert parse_config(text, {"DEEPSEEK_API_KEY": "sk-1"}).providers["deepseek"].api_key.endswith("sk-1")


def test_route_changes_read_an_empty_variable_as_written(tmp_path: Path) -> None:
    """`ccr model` in a shell where the key is exported empty: the change is made, and the variable noted."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"Providers": [DEEPSEEK], "Router": {"default": "deepseek,deepseek-chat"}}))
    change = route_edit.set_route(path, "think", "deepseek,deepseek-chat", {"DEEPSEEK_API_KEY": ""})
    assert change.changed and change.unset_variables == ["DEEPSEEK_API_KEY"]
    assert json.loads(path.read_text())["Providers"][0]["api_key"] == "$DEEPSEEK_API_KEY"


def _starter_config(tmp_path: Path) -> Path:
    """What `ccr init` writes with only a DeepSeek key in the environment (no Ollama)."""
    path = tmp_path / "config.json"
    path.write_text(starter.render(starter.make_plan({"DEEPSEEK_API_KEY": "sk-1"}, None), "2026-12-01"))
    return path


@pytest.mark.parametrize("route", ["background", "longContext", "webSearch", "image", "subagent", "compaction"])
def test_setting_a_route_init_left_commented_drops_its_placeholder(tmp_path: Path, route: str) -> None:
    path = _starter_config(tmp_path)
    before = path.read_text()
    assert f'    // "{route}": "provider,model",\n' in before  # the placeholder `ccr init` wrote

    change = route_edit.set_route(path, route, "deepseek,deepseek-chat", {"DEEPSEEK_API_KEY": "sk-1"})

    after = path.read_text()
    assert change.changed and not change.comments_lost
    assert f'"{route}": "provider,model"' not in after
    assert after.count("// Not set:") == before.count("// Not set:") - 1
    # Set where the placeholder was, under the route's own description, which stays.
    description = next(line for line in before.splitlines() if line.startswith(f"    // {route}: "))
    assert f'{description}\n    "{route}": "deepseek,deepseek-chat",\n' in after
    assert json5.loads(after)["Router"][route] == "deepseek,deepseek-chat"
    # Every other line is as it was.
    removed = {line for line in before.splitlines() if line not in after.splitlines()}
    assert len(removed) == 2 and all(line.lstrip().startswith("//") for line in removed)


def test_a_stale_placeholder_goes_when_the_route_was_set_by_hand(tmp_path: Path) -> None:
    """The user added the route somewhere else and left the placeholder: `ccr model` drops it all the same."""
    path = _starter_config(tmp_path)
    text = path.read_text().replace(
        '    "longContextThreshold"', '    "background": "deepseek,deepseek-chat",\n    "longContextThreshold"'
    )
    path.write_text(text)
    route_edit.set_route(path, "background", "deepseek,deepseek-reasoner", {"DEEPSEEK_API_KEY": "sk-1"})
    after = path.read_text()
    assert '// "background": "provider,model"' not in after
    assert after.count('"background":') == 1
    assert json5.loads(after)["Router"]["background"] == "deepseek,deepseek-reasoner"
