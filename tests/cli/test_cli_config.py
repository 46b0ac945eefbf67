"""`ccr config check`: a valid config is summarised (exit 0); an invalid one is refused with the key path and the
fix (exit 2, no traceback). The shared example configs pass unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.ccr_cli import CcrHome
from tests.support.paths import EXAMPLES_DIR

EXAMPLE_ENV = {
    "OPENROUTER_API_KEY": "sk-or-example-secret",
    "DEEPSEEK_API_KEY": "sk-ds-example-secret",
    "GEMINI_API_KEY": "gm-example-secret",
    "CCR_APIKEY": "router-example-secret",
}


def good_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "Providers": [
            {
                "name": "deepseek",
                "api_base_url": "https://api.deepseek.com/chat/completions",
                "api_key": "sk-literal-secret-in-file",
                "models": ["deepseek-chat", "deepseek-reasoner"],
            },
            {"name": "ollama", "api_base_url": "http://localhost:11434/v1/chat/completions", "models": ["qwen"]},
        ],
        "Router": {
            "default": "deepseek,deepseek-chat",
            "think": "deepseek,deepseek-reasoner",
            "background": "ollama,qwen",
        },
        "fallback": {"default": ["ollama,qwen"]},
    }
    config.update(overrides)
    return config


def test_valid_config_prints_a_summary(ccr: CcrHome) -> None:
    ccr.write_config(good_config())

    result = ccr.run("config", "check")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"config OK: {ccr.config_path}" in out
    assert "deepseek  2 models" in out and "ollama    1 model," in out
    assert "default               deepseek,deepseek-chat" in out
    assert "think                 deepseek,deepseek-reasoner" in out
    assert "background            ollama,qwen" in out
    assert "webSearch             (not set: default)" in out
    assert "longContextThreshold  60000 tokens" in out
    assert "fallback" in out and "ollama,qwen" in out
    assert "sk-literal-secret-in-file" not in out + result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("how", ["global", "local"])
def test_explicit_config_path(ccr: CcrHome, tmp_path: Path, how: str) -> None:
    other = tmp_path / "elsewhere.json"
    other.write_text(json.dumps(good_config()))
    args = (
        ["--config", str(other), "config", "check"] if how == "global" else ["config", "check", "--config", str(other)]
    )

    result = ccr.run(*args)

    assert result.returncode == 0, result.stderr
    assert f"config OK: {other}" in result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (json.dumps(good_config(Router={"default": "deepseek"})), "Router.default is 'deepseek', but it must be"),
        (json.dumps(good_config(Router={"default": "nosuch,model"})), "Router.default names provider 'nosuch'"),
        (json.dumps(good_config(Router={"default": "deepseek,gpt-4"})), "Router.default names model 'gpt-4'"),
        (json.dumps(good_config(fallback={"think": ["ollama,nope"]})), "fallback.think[0] names model 'nope'"),
        (json.dumps(good_config(APIKEY="$CCR_TEST_UNSET_VARIABLE")), "APIKEY references $CCR_TEST_UNSET_VARIABLE"),
        (json.dumps(good_config(PORT="eighty")), "PORT is 'eighty'; it must be a whole number, 0 or more"),
        ('{ "Providers": [ }', "is not valid JSON5"),
    ],
)
def test_invalid_config_is_refused_with_the_key_and_exit_2(ccr: CcrHome, text: str, expected: str) -> None:
    ccr.config_path.write_text(text)

    result = ccr.run("config", "check")

    assert result.returncode == 2
    assert result.stderr.startswith("ccr: ")
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_missing_file_says_how_to_create_one(ccr: CcrHome) -> None:
    result = ccr.run("config", "check")

    assert result.returncode == 2
    assert f"No config file at {ccr.config_path}" in result.stderr


def test_custom_router_that_cannot_load_is_refused(ccr: CcrHome, tmp_path: Path) -> None:
    """The service loads CUSTOM_ROUTER_PATH when it starts, so the check does too."""
    router_file = tmp_path / "router.py"
    router_file.write_text("def not_a_router():\n    return None\n")
    ccr.write_config(good_config(CUSTOM_ROUTER_PATH=str(router_file)))

    result = ccr.run("config", "check")

    assert result.returncode == 2
    assert "CUSTOM_ROUTER_PATH" in result.stderr


def test_missing_default_route_is_a_warning(ccr: CcrHome) -> None:
    ccr.write_config(good_config(Router={"think": "deepseek,deepseek-reasoner"}))

    result = ccr.run("config", "check")

    assert result.returncode == 0
    assert "default               (not set: requests no other route takes are refused)" in result.stdout
    assert "ccr: warning: Router.default is not set" in result.stderr
    assert "ccr model default provider,model" in result.stderr


def test_seed_minimal_example_passes_unchanged(ccr: CcrHome) -> None:
    env = {**ccr.env, "OPENROUTER_API_KEY": EXAMPLE_ENV["OPENROUTER_API_KEY"]}

    result = ccr.run("config", "check", "--config", str(EXAMPLES_DIR / "seed-minimal.config.json"), env=env)

    assert result.returncode == 0, result.stderr
    assert "default               openrouter,openai/gpt-oss-120b:free" in result.stdout
    assert EXAMPLE_ENV["OPENROUTER_API_KEY"] not in result.stdout


def test_seed_multi_example_passes_unchanged(ccr: CcrHome, tmp_path: Path) -> None:
    """As its README sets it up: the variables exported, the example custom router in ~/.claude-code-router."""
    user_home = tmp_path / "user"
    (user_home / ".claude-code-router").mkdir(parents=True)
    shutil.copy(EXAMPLES_DIR / "custom_router.py", user_home / ".claude-code-router" / "custom_router.py")
    env = {**ccr.env, **EXAMPLE_ENV, "HOME": str(user_home)}

    result = ccr.run("config", "check", "--config", str(EXAMPLES_DIR / "seed-multi.config.json"), env=env)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "default               deepseek,deepseek-chat" in out
    assert "background            ollama,qwen2.5-coder:latest" in out
    assert "longContext           openrouter,google/gemini-2.5-pro-preview" in out
    assert "longContextThreshold  60000 tokens" in out
    assert "think    gemini,gemini-2.5-pro" in out
    assert f"custom router: {user_home}/.claude-code-router/custom_router.py" in out
    for secret in EXAMPLE_ENV.values():
        assert secret not in out + result.stderr


def test_seed_multi_without_its_variables_names_the_first_unset_one(ccr: CcrHome) -> None:
    env = {k: v for k, v in ccr.env.items() if k not in EXAMPLE_ENV}

    result = ccr.run("config", "check", "--config", str(EXAMPLES_DIR / "seed-multi.config.json"), env=env)

    assert result.returncode == 2
    assert "APIKEY references $CCR_APIKEY, which is not set" in result.stderr
