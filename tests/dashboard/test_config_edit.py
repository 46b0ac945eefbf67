"""The dashboard's config editing (`dashboard/config_view.py`, `dashboard/config_save.py`), on real files.

A commented, oddly formatted config (tests/fixtures/dashboard_config/odd.config.json5) is changed the ways the page
changes it; each save keeps every byte outside the edited span, loads with the real loader, is backed up, and no
view, diff or error ever holds a written key, the APIKEY or a URL's password.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from ccrouter.config.json5_edit import ArraySpan, ObjectSpan, last_member, parse_spans
from ccrouter.config.loading import load_config
from ccrouter.config.route_edit import backups
from ccrouter.config.scenarios import ROUTE_SCENARIOS
from ccrouter.config.transformers import TRANSFORMERS
from ccrouter.dashboard import config_save
from ccrouter.dashboard.config_save import Checked, InvalidChanges, Saved, check_changes, parse_changes, save_changes
from ccrouter.dashboard.config_view import config_view
from ccrouter.errors import ConfigError, GatewayError
from tests.support.paths import FIXTURES_DIR

ODD = FIXTURES_DIR / "dashboard_config" / "odd.config.json5"
ENV = {"DEEPSEEK_API_KEY": "sk-env-deepseek-000111"}
WRITTEN_KEY = "sk-written-secret-value-42"  # Providers[2].api_key in the fixture
APIKEY = "router-key-0123456789abcdef"
URL_PASSWORD = "hunter2pass"  # in Providers[1].api_base_url
SECRETS = (WRITTEN_KEY, APIKEY, URL_PASSWORD)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_bytes(ODD.read_bytes())
    return path


def version(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(path: Path, *changes: dict[str, Any], environ: dict[str, str] = ENV) -> Checked:
    sent, parsed = parse_changes({"version": version(path), "changes": list(changes)})
    return check_changes(path, sent, parsed, environ)


def save(path: Path, *changes: dict[str, Any], environ: dict[str, str] = ENV) -> Saved:
    sent, parsed = parse_changes({"version": version(path), "changes": list(changes)})
    return save_changes(path, sent, parsed, environ)


def member_span(text: str, *path: str | int) -> tuple[int, int]:
    """The value span at `path` in the text (as the reader the tests of json5_paths check)."""
    node: Any = parse_spans(text)
    item: Any = None
    for step in path:
        item = last_member(node, step) if isinstance(node, ObjectSpan) else node.elements[step]
        node = item.node
    return item.value_start, item.value_end


def assert_only_changed(old: str, new: str, start: int, end: int) -> str:
    """`new` is `old` with old[start:end] replaced: every byte outside the span is identical. Returns the new text
    of the span."""
    assert new[:start] == old[:start]
    assert new[len(new) - (len(old) - end) :] == old[end:]
    return new[start : len(new) - (len(old) - end)]


# ---------------------------------------------------------------------------------------------------------------
# The view


def test_the_view_shows_the_sections_as_written_and_no_secret(config: Path) -> None:
    view = config_view(config)
    shown = json.dumps(view)
    assert not [secret for secret in SECRETS if secret in shown]
    assert view["version"] == version(config) and view["path"] == str(config)
    assert [p["api_key"] for p in view["providers"]] == [
        {"kind": "variable", "variable": "DEEPSEEK_API_KEY"},
        {"kind": "none", "variable": None},
        {"kind": "written", "variable": None},
    ]
    assert view["providers"][1]["api_base_url"] == "http://***@127.0.0.1:11434/v1/chat/completions"
    assert view["providers"][0]["models"] == ["deepseek-chat", "deepseek-reasoner"]
    assert view["providers"][0]["transformer"] == {"use": ["deepseek"]}
    assert view["Router"]["think"] == "deepseek,deepseek-reasoner"
    assert view["Prices"] == {"deepseek,deepseek-chat": {"input": 0.27, "output": 1.1}}
    assert view["fallback"] is None and view["Budgets"] is None and view["StatusLine"] is None
    assert view["route_names"] == [str(s) for s in ROUTE_SCENARIOS]
    assert view["transformer_names"] == sorted(TRANSFORMERS)
    catalogue = json.loads(resources.files("ccrouter.config").joinpath("starter_catalogue.json").read_text())
    assert [t["name"] for t in view["templates"]] == [p["name"] for p in catalogue["providers"]]
    assert [t["api_key"] for t in view["templates"]] == [
        f"${p['env']}" if p["env"] else None for p in catalogue["providers"]
    ]


def test_the_view_keeps_variables_unexpanded_and_hides_secrets_wherever_they_are(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "APIKEY": APIKEY,
                "Providers": [
                    {
                        "name": "p",
                        "api_base_url": "https://u:pw-in-url@example.com/v1/chat/completions",
                        "api_key": "${P_KEY}",
                        "models": ["m"],
                        "transformer": {"use": [["customparams", {"api_key": WRITTEN_KEY}]]},
                    }
                ],
                "Router": {"default": "$ROUTE"},
                "StatusLine": {"note": f"the router key is {APIKEY}", "proxy": "http://me:pw2@proxy:3128"},
            }
        )
    )
    view = config_view(path)
    shown = json.dumps(view)
    assert not [s for s in (APIKEY, WRITTEN_KEY, "pw-in-url", "pw2") if s in shown]
    assert view["providers"][0]["api_key"] == {"kind": "variable", "variable": "P_KEY"}
    assert view["Router"] == {"default": "$ROUTE"}
    assert view["StatusLine"] == {"note": "the router key is ***", "proxy": "http://***@proxy:3128"}


# ---------------------------------------------------------------------------------------------------------------
# Saving each kind of change


def test_a_provider_added_from_a_template_keeps_every_other_byte(config: Path) -> None:
    template = next(t for t in config_view(config)["templates"] if t["name"] == "groq")
    provider = {key: template[key] for key in ("name", "api_base_url", "api_key", "models", "transformer")}
    old = config.read_text()
    providers = parse_spans(old).members[3].node
    assert isinstance(providers, ArraySpan)
    saved = save(config, {"path": ["Providers"], "append": provider}, environ={**ENV, "GROQ_API_KEY": "gsk-1"})
    new = config.read_text()
    close_line = old.rfind("\n", 0, providers.end - 1) + 1
    added = assert_only_changed(old, new, providers.elements[-1].value_end, close_line)
    assert added.startswith(",\n    {\n      name: 'groq',\n")  # the siblings' indentation, bare keys and quotes
    loaded = load_config(config, {**ENV, "GROQ_API_KEY": "gsk-1"}, run_user_code=False)
    groq = loaded.provider("groq")
    assert groq is not None and groq.models == tuple(template["models"]) and groq.api_key == "gsk-1"
    assert saved.version == version(config)


def test_a_model_list_changed_replaces_only_that_list(config: Path) -> None:
    old = config.read_text()
    start, end = member_span(old, "Providers", 1, "models")
    save(config, {"path": ["Providers", 1, "models"], "value": ["qwen2.5-coder:latest", "llama3.2"]})
    new = config.read_text()
    replaced = assert_only_changed(old, new, start, end)
    assert (
        replaced == '[\n        "qwen2.5-coder:latest",\n        "llama3.2",\n      ]'
    )  # lines, trailing comma: as it was
    local = load_config(config, ENV, run_user_code=False).provider("local")
    assert local is not None and local.models == ("qwen2.5-coder:latest", "llama3.2")


def test_a_route_changed_replaces_only_its_value_in_its_own_quotes(config: Path) -> None:
    old = config.read_text()
    start, end = member_span(old, "Router", "think")
    save(config, {"path": ["Router", "think"], "value": "local,qwen2.5-coder:latest"})
    new = config.read_text()
    assert assert_only_changed(old, new, start, end) == '"local,qwen2.5-coder:latest"'
    assert load_config(config, ENV, run_user_code=False).routes["think"].label == "local,qwen2.5-coder:latest"


def test_a_budget_added_creates_the_missing_budgets_list(config: Path) -> None:
    old = config.read_text()
    budget = {"name": "daily", "scope": "all", "period": "day", "usd": 5}
    save(config, {"path": ["Budgets"], "append": budget})
    new = config.read_text()
    closing = old.rindex("}")  # the file ends its last items with commas: so do the new ones
    added = assert_only_changed(old, new, closing, closing)
    assert added == '  "Budgets": [\n    {"name": "daily", "scope": "all", "period": "day", "usd": 5},\n  ],\n'
    ledger = load_config(config, ENV, run_user_code=False).ledger
    assert ledger is not None and [rule.name for rule in ledger.budgets] == ["daily"]


def test_a_key_written_from_the_page_is_saved_but_never_shown(config: Path) -> None:
    new_key = "sk-new-key-typed-in-the-page-0042"
    change = {"path": ["Providers", 0, "api_key"], "value": new_key}
    checked = check(config, change)
    assert checked.ok and new_key not in checked.diff and WRITTEN_KEY not in checked.diff
    assert "-      api_key: '$DEEPSEEK_API_KEY'," in checked.diff
    assert re.search(r"^\+      api_key: '<hidden \d+>',$", checked.diff, re.MULTILINE)
    save(config, change)
    assert f"api_key: '{new_key}'" in config.read_text()
    view = config_view(config)
    assert new_key not in json.dumps(view) and view["providers"][0]["api_key"]["kind"] == "written"


def test_the_diff_masks_the_apikey_url_credentials_and_keys_pasted_in_comments(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        "{\n"
        f'  "APIKEY": "{APIKEY}",\n'
        f"  // old provider key, kept for later: {WRITTEN_KEY}\n"
        '  "Providers": [{"name": "p", "api_base_url": "http://u:pw-in-url@h/v1/chat/completions",'
        f' "api_key": "{WRITTEN_KEY}", "models": ["m"]}}],\n'
        '  "Router": {"default": "p,m"}\n'
        "}\n"
    )
    checked = check(path, {"path": ["Router", "think"], "value": "p,m"})
    assert checked.ok, checked.errors
    assert not [s for s in (APIKEY, WRITTEN_KEY, "pw-in-url") if s in checked.diff]
    assert checked.diff.count("<hidden 1>") == 2  # the key where it stands and in the comment, one label
    assert '"APIKEY": "<hidden' in checked.diff and "http://<hidden" in checked.diff


def test_a_file_that_spells_providers_in_lower_case_is_edited_there(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"providers": [{"name": "p", "api_base_url": "http://h/v1", "models": ["m"]}]}')
    save(path, {"path": ["Providers", 0, "models"], "append": "n"})
    assert path.read_text() == '{"providers": [{"name": "p", "api_base_url": "http://h/v1", "models": ["m", "n"]}]}'


# ---------------------------------------------------------------------------------------------------------------
# What is refused


def test_deleting_a_provider_a_route_uses_is_an_error_naming_the_key(config: Path) -> None:
    before = config.read_bytes()
    checked = check(config, {"path": ["Providers", 0], "delete": True})
    assert not checked.ok and checked.errors[0]["path"] == "Router.default"
    edited = config.with_name("edited.json")
    edited.write_text(checked.text)
    with pytest.raises(ConfigError) as loader:
        load_config(edited, ENV, run_user_code=False)
    assert checked.errors == [{"path": "Router.default", "message": str(loader.value)}]  # as `ccr config check`
    assert "'deepseek'" in checked.errors[0]["message"]
    with pytest.raises(InvalidChanges) as invalid:
        save(config, {"path": ["Providers", 0], "delete": True})
    assert invalid.value.status == 422 and invalid.value.errors == checked.errors
    assert invalid.value.body()["errors"] == checked.errors
    assert config.read_bytes() == before and backups(config) == []


def test_a_variable_the_service_lacks_is_an_error_at_its_key(config: Path) -> None:
    template = next(t for t in config_view(config)["templates"] if t["name"] == "groq")
    provider = {key: template[key] for key in ("name", "api_base_url", "api_key", "models")}
    checked = check(config, {"path": ["Providers"], "append": provider})
    assert not checked.ok and checked.errors[0]["path"] == "Providers[3].api_key"
    assert "references $GROQ_API_KEY, which is not set" in checked.errors[0]["message"]


def test_a_file_changed_since_the_page_loaded_is_a_conflict_and_is_not_overwritten(config: Path) -> None:
    sent, changes = parse_changes(
        {"version": version(config), "changes": [{"path": ["Router", "think"], "value": "local,qwen2.5-coder:latest"}]}
    )
    config.write_text(config.read_text() + "// edited in an editor meanwhile\n")
    outside = config.read_bytes()
    for attempt in (check_changes, save_changes):
        with pytest.raises(GatewayError) as conflict:
            attempt(config, sent, changes, ENV)
        assert conflict.value.status == 409 and conflict.value.error_type == "conflict_error"
        assert "changed on disk since this page loaded" in conflict.value.message
        assert "Reload the page and make the change again" in conflict.value.message
    assert config.read_bytes() == outside and backups(config) == []


def test_an_outside_edit_between_the_check_and_the_write_is_not_overwritten(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_check = config_save._check

    def check_then_someone_saves(*args: Any) -> Checked:
        checked = real_check(*args)
        config.write_text(config.read_text().replace("most requests", "edited meanwhile"))
        return checked

    monkeypatch.setattr(config_save, "_check", check_then_someone_saves)
    with pytest.raises(GatewayError) as conflict:
        save(config, {"path": ["Router", "think"], "value": "local,qwen2.5-coder:latest"})
    assert conflict.value.status == 409
    assert "edited meanwhile" in config.read_text() and "deepseek,deepseek-reasoner" in config.read_text()
    assert backups(config) == []


def test_a_save_backs_up_the_old_file_and_keeps_the_files_mode(config: Path) -> None:
    os.chmod(config, 0o640)
    before = config.read_bytes()
    saved = save(config, {"path": ["Router", "image"], "value": "deepseek,deepseek-chat"})
    [backup] = backups(config)
    assert saved.backup_name == backup.name and re.fullmatch(r"config\.json\.\d{8}-\d{6}\.bak", backup.name)
    assert backup.read_bytes() == before and stat.S_IMODE(backup.stat().st_mode) == 0o640
    assert stat.S_IMODE(config.stat().st_mode) == 0o640


def test_a_change_that_changes_nothing_writes_nothing(config: Path) -> None:
    saved = save(config, {"path": ["Router", "think"], "value": "deepseek,deepseek-reasoner"})
    assert saved == Saved(version(config), None) and backups(config) == []


def test_text_the_editor_cannot_edit_in_place_is_refused_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        '{\n  ключ: 1, // a non-ASCII bare key, valid JSON5 the span reader does not take\n  "Router": {}\n}\n'
    )
    checked = check(path, {"path": ["Router", "default"], "value": "p,m"})
    assert not checked.ok and checked.diff == ""
    assert "by hand" in checked.errors[0]["message"] and "comments would be lost" in checked.errors[0]["message"]


V = "0" * 64
ROUTE = {"path": ["Router", "default"], "value": "p,m"}


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ([], "The body must be a JSON object"),
        ({"version": V, "changes": [ROUTE], "extra": 1}, "unknown key 'extra'; its keys are version and changes"),
        ({"changes": [ROUTE]}, 'version must be the "version" of GET /api/ui/config (64 hex digits)'),
        ({"version": "abc", "changes": [ROUTE]}, "64 hex digits"),
        ({"version": V, "changes": {}}, "changes must be a list of changes like"),
        ({"version": V, "changes": []}, "changes is empty; send at least one change"),
        ({"version": V, "changes": [ROUTE] * 201}, "changes holds 201 changes; at most 200"),
        ({"version": V, "changes": ["Router"]}, "changes[0] must be an object with a path"),
        ({"version": V, "changes": [{"path": ["Router"], "value": 1, "delete": True}]}, "has value and delete"),
        ({"version": V, "changes": [{"path": ["Router"]}]}, "has none of value, append and delete"),
        ({"version": V, "changes": [{"path": ["Router"], "delete": 1}]}, "changes[0].delete must be true"),
        ({"version": V, "changes": [{"path": ["Router"], "valu": 1}]}, "changes[0] has the unknown key 'valu'"),
        ({"version": V, "changes": [{"path": "Router", "value": 1}]}, "changes[0].path must be a non-empty list"),
        ({"version": V, "changes": [{"path": [], "value": 1}]}, "changes[0].path must be a non-empty list"),
        ({"version": V, "changes": [{"path": ["Router", True], "value": 1}]}, "changes[0].path[1] is true; each step"),
        ({"version": V, "changes": [{"path": ["Providers", -1], "value": 1}]}, "path[1] is -1 (below 0)"),
        ({"version": V, "changes": [{"path": ["Router", 1.5], "value": 1}]}, "path[1] is a fraction"),
        (
            {"version": V, "changes": [{"path": ["APIKEY"], "value": "k"}]},
            "path[0] is 'APIKEY'; a change's path starts",
        ),
        ({"version": V, "changes": [{"path": ["Router"] * 33, "value": 1}]}, "has 33 steps; a config path has at most"),
        ({"version": V, "changes": [{"path": ["Router", "x"], "value": "a" * 300_000}]}, "at most 262,144 fit"),
        ({"version": V, "changes": [{"path": ["Router", "x"], "value": float("nan")}]}, "finite numbers"),
    ],
)
def test_invalid_change_payloads_are_400s_saying_what_is_expected(payload: Any, words: str) -> None:
    with pytest.raises(GatewayError) as refused:
        parse_changes(payload)
    assert refused.value.status == 400 and refused.value.error_type == "invalid_request_error"
    assert words in refused.value.message


def test_a_path_the_config_does_not_have_is_a_400_naming_the_change(config: Path) -> None:
    with pytest.raises(GatewayError) as refused:
        check(config, ROUTE, {"path": ["Providers", 7, "models"], "value": ["m"]})
    assert refused.value.status == 400
    assert "changes[1] (Providers[7].models) cannot be made: Providers[7] is past the end" in refused.value.message
