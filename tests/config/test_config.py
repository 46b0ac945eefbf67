"""Config loading: CCR configs load unchanged; every unusable config is refused with the key path and a fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ccrouter.config.loading import load_config, parse_config
from ccrouter.config.scenarios import Scenario
from ccrouter.errors import ConfigError
from tests.support.paths import EXAMPLES_DIR

EXAMPLE_ENV = {
    "OPENROUTER_API_KEY": "sk-or-1",
    "DEEPSEEK_API_KEY": "sk-ds-1",
    "GEMINI_API_KEY": "gm-1",
    "CCR_APIKEY": "router-key",
}


def base(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "Providers": [
            {
                "name": "deepseek",
                "api_base_url": "https://api.deepseek.com/chat/completions",
                "api_key": "sk-1",
                "models": ["deepseek-chat", "deepseek-reasoner"],
            },
            {"name": "ollama", "api_base_url": "http://localhost:11434/v1/chat/completions", "models": ["qwen"]},
        ],
        "Router": {"default": "deepseek,deepseek-chat"},
    }
    config.update(overrides)
    return config


def parse(config: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    return parse_config(json.dumps(config), env or {})


def refused(config: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse(config, env)
    return str(info.value)


@pytest.mark.parametrize("name", ["seed-minimal.config.json", "seed-multi.config.json"])
def test_shared_examples_load_unchanged(name: str) -> None:
    config = parse_config((EXAMPLES_DIR / name).read_text(), EXAMPLE_ENV)
    assert config.routes["default"].provider.api_key in ("sk-or-1", "sk-ds-1")


def test_multi_provider_example_routes_and_fallbacks() -> None:
    config = parse_config((EXAMPLES_DIR / "seed-multi.config.json").read_text(), EXAMPLE_ENV)
    assert {k: v.label for k, v in config.routes.items()} == {
        "default": "deepseek,deepseek-chat",
        "background": "ollama,qwen2.5-coder:latest",
        "think": "deepseek,deepseek-reasoner",
        "longContext": "openrouter,google/gemini-2.5-pro-preview",
        "webSearch": "gemini,gemini-2.5-flash",
    }
    assert [t.label for t in config.fallback["think"]] == ["gemini,gemini-2.5-pro"]
    assert config.apikey == "router-key"
    assert config.provider("ollama") is not None and config.provider("ollama").api_key is None  # type: ignore[union-attr]
    assert config.provider("OpenRouter") is config.provider("openrouter")
    deepseek = config.provider("deepseek")
    assert deepseek is not None
    assert [u.name for u in deepseek.transformers_for("deepseek-chat")] == ["deepseek", "tooluse"]
    assert [u.name for u in deepseek.transformers_for("deepseek-reasoner")] == ["deepseek"]
    assert config.custom_router_path is not None and config.custom_router_path.endswith("custom_router.py")


def test_json5_comments_trailing_commas_and_lowercase_providers_key() -> None:
    text = """// comment
    {
      providers: [{name: "p", api_base_url: "http://127.0.0.1:1/v1/chat/completions", models: ["m",],},],
      Router: {default: "p,m",},  /* block */
    }"""
    config = parse_config(text, {})
    assert config.routes["default"].label == "p,m"
    assert config.port == 3456 and config.host == "127.0.0.1" and config.log is True
    assert config.log_level == "info" and config.api_timeout_ms == 600000


def test_interpolation_in_every_string_both_forms() -> None:
    config = parse(
        base(
            HOST="${H}",
            PORT="$PORT_NUM",
            Providers=[
                {"name": "p", "api_base_url": "https://${HOSTNAME_X}/v1", "api_key": "pre-$KEY-post", "models": ["m"]}
            ],
            Router={"default": "p,m"},
        ),
        {"H": "127.0.0.1", "PORT_NUM": "4000", "HOSTNAME_X": "example.test", "KEY": "abc"},
    )
    provider = config.provider("p")
    assert provider.api_base_url == "https://example.test/v1"
    assert provider.api_key == "pre-abc-post"
    assert config.port == 4000


def test_unset_variable_names_key_and_variable_but_not_other_values() -> None:
    config = base()
    config["Providers"][0]["api_key"] = "$DEEPSEEK_KEY_UNSET"
    message = refused(config)
    assert "Providers[0].api_key" in message and "$DEEPSEEK_KEY_UNSET" in message and "export" in message


@pytest.mark.parametrize(
    ("router", "expected"),
    [
        ({"default": "deepseek"}, ["Router.default", '"provider,model"']),
        ({"default": "deepseek,deepseek-chat", "think": "nope,model"}, ["Router.think", "'nope'", "deepseek, ollama"]),
        ({"default": "deepseek,deepseek-chat", "background": "ollama,llama"}, ["Router.background", "'llama'", "qwen"]),
        ({"default": 5}, ["Router.default"]),
    ],
)
def test_bad_routes_are_refused_with_key_path(router: dict[str, Any], expected: list[str]) -> None:
    message = refused(base(Router=router))
    for fragment in expected:
        assert fragment in message


def test_route_names_match_case_insensitively() -> None:
    config = parse(base(Router={"default": "DeepSeek,DEEPSEEK-CHAT"}))
    assert config.routes["default"].label == "deepseek,deepseek-chat"


def test_unknown_transformer_is_refused() -> None:
    config = base()
    config["Providers"][0]["transformer"] = {"use": ["deepseek", "deepsek"]}
    message = refused(config)
    assert "Providers[0].transformer.use[1]" in message and "'deepsek'" in message and "maxtoken" in message


def test_transformer_with_options_and_per_model_chain() -> None:
    config = base()
    config["Providers"][0]["transformer"] = {
        "use": [["maxtoken", {"max_tokens": 8192}]],
        "deepseek-chat": {"use": ["tooluse"]},
    }
    provider = parse(config).provider("deepseek")
    uses = provider.transformers_for("deepseek-chat")
    assert [(u.name, u.options) for u in uses] == [("maxtoken", {"max_tokens": 8192}), ("tooluse", None)]


def test_per_model_transformer_for_unlisted_model_is_refused() -> None:
    config = base()
    config["Providers"][0]["transformer"] = {"use": [], "deepseek-coder": {"use": ["tooluse"]}}
    assert "Providers[0].transformer.deepseek-coder" in refused(config)


def test_custom_transformer_names_come_from_plugin_files(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text('name = "my-tweak"\n')
    config = base(transformers=[{"path": str(plugin), "options": {}}])
    config["Providers"][0]["transformer"] = {"use": ["my-tweak"]}
    assert parse(config).provider("deepseek").transformers[0].name == "my-tweak"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"PORT": "abc"}, "PORT"),
        ({"PORT": True}, "PORT"),
        ({"LOG": "yes"}, "LOG"),
        ({"API_TIMEOUT_MS": -1}, "API_TIMEOUT_MS"),
        ({"Router": []}, "Router must be an object"),
        ({"Providers": {}}, "Providers must be a list"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL"),
        ({"APIKEY": 123}, "APIKEY must be a string"),
        ({"fallback": {"default": "deepseek"}}, "fallback.default[0]"),
        ({"fallback": {"sometimes": ["deepseek,deepseek-chat"]}}, "fallback.sometimes"),
    ],
)
def test_wrong_types_are_refused(overrides: dict[str, Any], fragment: str) -> None:
    assert fragment in refused(base(**overrides))


@pytest.mark.parametrize(
    ("provider", "fragment"),
    [
        ({"name": "x", "api_base_url": "ftp://x", "models": ["m"]}, "Providers[2].api_base_url"),
        ({"name": "x", "api_base_url": "http://x", "models": []}, "Providers[2].models is empty"),
        ({"name": "x", "api_base_url": "http://x", "models": "m"}, "Providers[2].models must be a list"),
        ({"name": "a,b", "api_base_url": "http://x", "models": ["m"]}, "Providers[2].name"),
        ({"name": "DEEPSEEK", "api_base_url": "http://x", "models": ["m"]}, "used by two providers"),
        ({"name": "x", "api_base_url": "http://x", "models": ["m"], "api_key": 5}, "Providers[2].api_key"),
    ],
)
def test_bad_providers_are_refused(provider: dict[str, Any], fragment: str) -> None:
    config = base()
    config["Providers"].append(provider)
    assert fragment in refused(config)


def test_missing_file_and_bad_syntax(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No config file"):
        load_config(tmp_path / "nope.json")
    bad = tmp_path / "config.json"
    bad.write_text("{ Providers: [ }")
    with pytest.raises(ConfigError, match="not valid JSON5"):
        load_config(bad)


def test_ping_interval_is_read_and_checked() -> None:
    assert parse(base()).ping_interval_ms == 10_000
    assert parse(base(PING_INTERVAL_MS=250)).ping_interval_ms == 250
    assert parse(base(PING_INTERVAL_MS="$PING"), {"PING": "500"}).ping_interval_ms == 500
    for bad in (0, -5, "soon", 1.5, True, {}):
        message = refused(base(PING_INTERVAL_MS=bad))
        assert message.startswith("PING_INTERVAL_MS is ") and "a whole number of milliseconds, 1 or more" in message


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"PORT": "eighty"}, "PORT is 'eighty'; it must be a whole number, 0 or more, like 3456."),
        ({"LOG": 2}, "LOG is 2; it must be true or false."),
        ({"Router": {"default": "deepseek,deepseek-chat", "longContextThreshold": -1}}, "Router.longContextThreshold"),
        ({"RETRY": {"max_retries": "x"}}, "RETRY.max_retries is 'x'; it must be a whole number, 0 or more"),
        ({"MAX_REQUEST_BODY_MB": "Infinity"}, "MAX_REQUEST_BODY_MB is 'Infinity'; it must be a positive number"),
    ],
)
def test_one_set_of_rules_for_single_values(overrides: dict[str, Any], message: str) -> None:
    assert message in refused(base(**overrides))


def test_numbers_may_come_from_variables_everywhere() -> None:
    config = parse(
        base(RETRY={"max_retries": "$RETRIES"}, MAX_REQUEST_BODY_MB="$MB", API_TIMEOUT_MS="${TIMEOUT}", LOG="$LOG"),
        {"RETRIES": "4", "MB": "1.5", "TIMEOUT": "1000", "LOG": "false"},
    )
    assert config.retry.max_retries == 4 and config.max_body_bytes == int(1.5 * 1024 * 1024)
    assert config.api_timeout_ms == 1000 and config.log is False


def test_routes_and_fallbacks_are_keyed_by_scenario() -> None:
    config = parse(base(Router={"default": ["deepseek,deepseek-chat", "ollama,qwen"]}, fallback={"think": []}))
    assert list(config.routes) == [Scenario.DEFAULT] and config.routes["default"].label == "deepseek,deepseek-chat"
    assert all(type(key) is Scenario for key in config.fallback)
    assert [t.label for t in config.fallback[Scenario.DEFAULT]] == ["ollama,qwen"]


def test_edit_route_and_user_code_errors_are_in_the_error_tree(tmp_path: Path) -> None:
    from ccrouter.config.json5_edit import EditError, set_string_member
    from ccrouter.config.route_edit import RouteError, route_key
    from ccrouter.errors import CcrouterError, UserCodeError
    from ccrouter.user_code import load_user_module

    with pytest.raises(RouteError) as route:
        route_key("sometimes")
    assert isinstance(route.value, CcrouterError) and route.value.exit_code == 2
    assert RouteError("write failed", 1).exit_code == 1
    with pytest.raises(EditError) as edit:
        set_string_member("[1]", ("Router",), "default", "a,b")
    assert isinstance(edit.value, CcrouterError)
    with pytest.raises(UserCodeError) as user_code:
        load_user_module(str(tmp_path / "missing.py"))
    assert user_code.value.exit_code == 2
