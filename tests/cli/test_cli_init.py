"""`ccr init`: a commented starter config from the environment's provider keys and a local Ollama, never
overwriting anything, always loadable with the same environment."""

from __future__ import annotations

import time
from pathlib import Path

import json5
import pytest

from ccrouter.config.loading import load_config
from ccrouter.config.starter import CATALOGUE
from tests.support.ccr_cli import CcrHome
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, error_reply, json_reply
from tests.support.router_process import free_port

KEY_VARS = [str(entry.env) for entry in CATALOGUE]
SECRETS = {
    "OPENROUTER_API_KEY": "sk-or-v1-secret-openrouter-0001",
    "DEEPSEEK_API_KEY": "sk-secret-deepseek-0002",
    "GEMINI_API_KEY": "AIza-secret-gemini-0003",
    "GROQ_API_KEY": "gsk_secret-groq-0004",
    "OPENAI_API_KEY": "sk-proj-secret-openai-0005",
    "ANTHROPIC_API_KEY": "sk-ant-secret-anthropic-0006",
}
ENDPOINTS = {
    "openrouter": ("https://openrouter.ai/api/v1/chat/completions", "openrouter"),
    "deepseek": ("https://api.deepseek.com/chat/completions", "deepseek"),
    "gemini": ("https://generativelanguage.googleapis.com/v1beta/models/", "gemini"),
    "groq": ("https://api.groq.com/openai/v1/chat/completions", "groq"),
    "openai": ("https://api.openai.com/v1/chat/completions", None),
    "anthropic": ("https://api.anthropic.com/v1/messages", "anthropic"),
}
OLLAMA_MODELS = [
    {"name": "llama3.2:1b", "size": 1_300_000_000},
    {"name": "qwen2.5-coder:7b", "size": 4_700_000_000},
    {"name": "nomic-embed-text:latest", "size": 270_000_000},
]


def env_with(ccr: CcrHome, keys: dict[str, str], ollama_url: str | None) -> dict[str, str]:
    """The test's environment with exactly `keys` among the provider variables, and Ollama pointed at a fake (or
    at a port where nothing listens)."""
    env = {k: v for k, v in ccr.env.items() if k not in KEY_VARS}
    env.update(keys)
    env["CCR_OLLAMA_URL"] = ollama_url or f"http://127.0.0.1:{free_port()}"
    return env


def fake_ollama(upstream: ScriptedUpstream, models: list[dict[str, object]]) -> None:
    def reply(received: Received) -> Scripted:
        if received.path == "/api/tags":
            return json_reply({"models": models})
        return error_reply(404, {"error": "not found"})

    upstream.default = reply


def test_init_writes_providers_from_env_keys_and_ollama(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    fake_ollama(upstream, OLLAMA_MODELS)
    keys = {k: SECRETS[k] for k in ("DEEPSEEK_API_KEY", "OPENROUTER_API_KEY")}
    env = env_with(ccr, keys, upstream.url)

    result = ccr.run("init", env=env)

    assert result.returncode == 0, result.stderr
    assert f"Wrote {ccr.config_path}" in result.stdout
    text = ccr.config_path.read_text()
    for secret in SECRETS.values():
        assert secret not in text
    assert '"api_key": "$DEEPSEEK_API_KEY"' in text
    assert '"api_key": "$OPENROUTER_API_KEY"' in text
    assert text.lstrip().startswith("//") and "\n  // " in text  # commented
    assert [r.path for r in upstream.received] == ["/api/tags"]

    config = load_config(ccr.config_path, env)
    assert set(config.providers) == {"deepseek", "openrouter", "ollama"}
    ollama = config.providers["ollama"]
    assert ollama.api_base_url == f"{upstream.url}/v1/chat/completions"
    assert ollama.api_key is None
    assert ollama.models == ("llama3.2:1b", "qwen2.5-coder:7b", "nomic-embed-text:latest")
    assert config.providers["deepseek"].api_key == SECRETS["DEEPSEEK_API_KEY"]
    assert config.providers["deepseek"].models == ("deepseek-chat", "deepseek-reasoner")
    routes = {k: v.label for k, v in config.routes.items()}
    assert routes["default"] == "deepseek,deepseek-chat"
    assert routes["think"] == "deepseek,deepseek-reasoner"
    assert routes["background"] == "ollama,qwen2.5-coder:7b"  # local first; its coding model
    assert routes["webSearch"].startswith("openrouter,") and routes["webSearch"].endswith(":online")
    assert routes["longContext"].startswith("openrouter,")
    assert routes["image"].startswith("openrouter,")  # deepseek-chat reads no images
    assert [t.label for t in config.fallback["default"]] == [routes["image"]]

    check = ccr.run("config", "check", env=env)
    assert check.returncode == 0, check.stderr
    assert "config OK" in check.stdout


@pytest.mark.parametrize("var", KEY_VARS)
def test_init_with_each_key_alone_writes_a_loadable_config(ccr: CcrHome, var: str) -> None:
    env = env_with(ccr, {var: SECRETS[var]}, None)

    result = ccr.run("init", env=env)

    assert result.returncode == 0, result.stderr
    text = ccr.config_path.read_text()
    assert SECRETS[var] not in text
    assert f'"${var}"' in text
    config = load_config(ccr.config_path, env)
    [(name, provider)] = config.providers.items()
    url, transformer = ENDPOINTS[name]
    assert provider.api_base_url == url
    assert provider.api_key == SECRETS[var]
    assert [use.name for use in provider.transformers] == ([transformer] if transformer else [])
    assert config.routes["default"].provider is provider
    # Every other known provider is there as a commented template, ready to uncomment.
    for other, (other_url, _) in ENDPOINTS.items():
        if other != name:
            assert f'// {{ "name": "{other}", "api_base_url": "{other_url}"' in text


def test_init_never_overwrites_an_existing_file(ccr: CcrHome) -> None:
    original = b'// mine\n{ "Providers": [], "Router": {} }\n'
    ccr.config_path.write_bytes(original)
    env = env_with(ccr, {"DEEPSEEK_API_KEY": SECRETS["DEEPSEEK_API_KEY"]}, None)

    result = ccr.run("init", env=env)

    assert result.returncode == 1
    assert "already exists" in result.stderr and "never overwrites" in result.stderr
    assert "Traceback" not in result.stderr
    assert ccr.config_path.read_bytes() == original
    assert sorted(p.name for p in ccr.home.iterdir()) == ["config.json"]  # no temporary file left behind


def test_init_refuses_an_existing_explicit_path(ccr: CcrHome, tmp_path: Path) -> None:
    env = env_with(ccr, {"GROQ_API_KEY": SECRETS["GROQ_API_KEY"]}, None)
    other = tmp_path / "other.json"
    other.write_text("{}")
    assert ccr.run("init", "--config", str(other), env=env).returncode == 1
    assert ccr.run("--config", str(other), "init", env=env).returncode == 1
    assert other.read_text() == "{}"


def test_init_through_a_symlink_writes_its_target(ccr: CcrHome, tmp_path: Path) -> None:
    """A dotfiles-style link to a file that does not exist yet: the file is created, the link stays a link."""
    target = tmp_path / "dotfiles" / "ccr.json"
    ccr.config_path.symlink_to(target)
    env = env_with(ccr, {"GROQ_API_KEY": SECRETS["GROQ_API_KEY"]}, None)

    assert ccr.run("init", env=env).returncode == 0
    assert ccr.config_path.is_symlink()
    assert load_config(target, env).routes["default"].label == "groq,openai/gpt-oss-120b"


def test_init_to_an_explicit_path_creates_its_directory(ccr: CcrHome, tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir" / "router.json"
    env = env_with(ccr, {"GROQ_API_KEY": SECRETS["GROQ_API_KEY"]}, None)

    result = ccr.run("init", "--config", str(target), env=env)

    assert result.returncode == 0, result.stderr
    assert load_config(target, env).routes["default"].label == "groq,openai/gpt-oss-120b"
    assert not ccr.config_path.exists()
    assert target.stat().st_mode & 0o077 == 0  # private: users paste keys into it later


def test_init_without_keys_or_ollama_writes_a_valid_commented_template(ccr: CcrHome) -> None:
    env = env_with(ccr, {}, None)

    result = ccr.run("init", env=env)

    assert result.returncode == 0, result.stderr
    assert "no provider key in the environment" in result.stderr
    assert "DEEPSEEK_API_KEY" in result.stderr
    config = load_config(ccr.config_path, env)
    assert not config.providers and not config.routes
    text = ccr.config_path.read_text()
    assert '// { "name": "deepseek"' in text
    assert '// { "name": "ollama", "api_base_url": "http://127.0.0.1:11434/v1/chat/completions"' in text
    assert '// "default": "provider,model",' in text

    check = ccr.run("config", "check", env=env)
    assert check.returncode == 0
    assert "Providers is empty" in check.stderr


def test_init_stdout_prints_the_config_and_writes_nothing(ccr: CcrHome) -> None:
    env = env_with(ccr, {"DEEPSEEK_API_KEY": SECRETS["DEEPSEEK_API_KEY"]}, None)
    ccr.config_path.write_text("{}")  # an existing file does not stop --stdout

    result = ccr.run("init", "--stdout", "--no-ollama", env=env)

    assert result.returncode == 0, result.stderr
    data = json5.loads(result.stdout)
    assert data["Router"]["default"] == "deepseek,deepseek-chat"
    assert ccr.config_path.read_text() == "{}"


def test_ollama_probe_gives_up_quickly_on_a_silent_server(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    upstream.default = lambda received: Scripted(body=b"{}", headers_delay=10)
    env = env_with(ccr, {"DEEPSEEK_API_KEY": SECRETS["DEEPSEEK_API_KEY"]}, upstream.url)

    started = time.monotonic()
    result = ccr.run("init", env=env)

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 5
    assert "ollama" not in load_config(ccr.config_path, env).providers


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (error_reply(404, {"error": "no"}), "HTTP 404"),
        (json_reply({"data": []}), "not Ollama's model list"),
        (json_reply({"models": []}), "no models yet"),
    ],
)
def test_something_else_on_the_ollama_port_is_reported_not_added(
    ccr: CcrHome, upstream: ScriptedUpstream, reply: Scripted, problem: str
) -> None:
    upstream.default = lambda received: reply
    env = env_with(ccr, {"DEEPSEEK_API_KEY": SECRETS["DEEPSEEK_API_KEY"]}, f"{upstream.url}/api/tags")

    result = ccr.run("init", env=env)

    assert result.returncode == 0, result.stderr
    assert problem in result.stderr
    assert "ollama" not in load_config(ccr.config_path, env).providers


def test_only_ollama_routes_everything_locally(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    fake_ollama(upstream, [{"name": "llama3.1:8b", "size": 4_900_000_000}, {"name": "weird$name", "size": 1}])
    env = env_with(ccr, {}, upstream.url)

    result = ccr.run("init", env=env)

    assert result.returncode == 0, result.stderr
    config = load_config(ccr.config_path, env)
    assert config.providers["ollama"].models == ("llama3.1:8b",)  # "$" would read as a variable
    assert {k: v.label for k, v in config.routes.items()} == {"default": "ollama,llama3.1:8b"}
