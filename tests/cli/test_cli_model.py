"""`ccr model`: show the routing table; set one route, validated, with a backup, as a minimal edit that keeps the
user's comments, atomically; a running service picks the change up without a restart."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ccrouter.config import route_edit as model_routes
from ccrouter.config.loading import load_config
from tests.support.ccr_cli import CcrHome
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, openai_completion
from tests.support.router_setup import LOOPBACK

USER_CONFIG = """\
// My router config. Keys come from the environment.
{
  /* Where requests may go. */
  "Providers": [
    {
      "name": "deepseek",
      "api_base_url": "https://api.deepseek.com/chat/completions",
      "api_key": "$DEEPSEEK_API_KEY",
      "models": ["deepseek-chat", "deepseek-reasoner"],
    },
    { name: 'ollama', api_base_url: 'http://localhost:11434/v1/chat/completions', models: ['qwen2.5-coder:latest'] },
  ],
  "Router": {
    // the everyday model
    "default": "deepseek,deepseek-chat",
    "think": "deepseek,deepseek-chat", // cheap for now
    "longContextThreshold": 50000,
  },
  "fallback": { "default": ["ollama,qwen2.5-coder:latest"] },
}
"""


@pytest.fixture
def ccr(ccr: CcrHome) -> CcrHome:
    """The shared temporary home, with the user's config in it and its key in the environment."""
    ccr.env["DEEPSEEK_API_KEY"] = "sk-ds-test-secret"
    ccr.config_path.write_text(USER_CONFIG)
    return ccr


def backups(ccr: CcrHome) -> list[Path]:
    return sorted(ccr.home.glob("config.json.*.bak"))


def test_show_prints_the_routing_table(ccr: CcrHome) -> None:
    result = ccr.run("model")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "default               deepseek,deepseek-chat" in out
    assert "think                 deepseek,deepseek-chat" in out
    assert "background            (not set: default)" in out
    assert "longContextThreshold  50000 tokens" in out
    assert "default  ollama,qwen2.5-coder:latest" in out  # the fallback
    assert "  deepseek,deepseek-reasoner\n" in out and "  ollama,qwen2.5-coder:latest\n" in out  # what to pick from
    assert "sk-ds-test-secret" not in out


def test_show_one_route(ccr: CcrHome) -> None:
    assert ccr.run("model", "think").stdout == "think: deepseek,deepseek-chat\n"
    assert ccr.run("model", "web_search").stdout == "webSearch: (not set: default)\n"


def test_set_changes_only_that_value_and_keeps_comments(ccr: CcrHome) -> None:
    result = ccr.run("model", "think", "deepseek,deepseek-reasoner")

    assert result.returncode == 0, result.stderr
    assert "think: deepseek,deepseek-chat -> deepseek,deepseek-reasoner" in result.stdout
    expected = USER_CONFIG.replace(
        '"think": "deepseek,deepseek-chat", // cheap for now', '"think": "deepseek,deepseek-reasoner", // cheap for now'
    )
    assert ccr.config_path.read_text() == expected
    assert "// the everyday model" in ccr.config_path.read_text()
    [backup] = backups(ccr)
    assert backup.read_text() == USER_CONFIG
    assert str(backup) in result.stdout
    assert load_config(ccr.config_path, ccr.env).routes["think"].label == "deepseek,deepseek-reasoner"
    assert result.stderr == ""


def test_set_a_route_that_is_not_there_inserts_it_in_the_router_block(ccr: CcrHome) -> None:
    result = ccr.run("model", "background", "ollama,qwen2.5-coder:latest")

    assert result.returncode == 0, result.stderr
    assert "background: (not set) -> ollama,qwen2.5-coder:latest" in result.stdout
    expected = USER_CONFIG.replace(
        '    "longContextThreshold": 50000,\n',
        '    "longContextThreshold": 50000,\n    "background": "ollama,qwen2.5-coder:latest",\n',
    )
    assert ccr.config_path.read_text() == expected


def test_route_and_names_are_case_insensitive_and_stored_as_the_config_spells_them(ccr: CcrHome) -> None:
    result = ccr.run("model", "LONG_CONTEXT", "Ollama, QWEN2.5-Coder:Latest")

    assert result.returncode == 0, result.stderr
    config = load_config(ccr.config_path, ccr.env)
    assert config.routes["longContext"].label == "ollama,qwen2.5-coder:latest"
    assert '"longContext": "ollama,qwen2.5-coder:latest",' in ccr.config_path.read_text()


def test_setting_the_current_value_changes_nothing(ccr: CcrHome) -> None:
    result = ccr.run("model", "default", "deepseek,deepseek-chat")

    assert result.returncode == 0
    assert "already" in result.stdout
    assert ccr.config_path.read_text() == USER_CONFIG
    assert backups(ccr) == []


@pytest.mark.parametrize(
    ("route", "target", "expected"),
    [
        ("thinking", "deepseek,deepseek-reasoner", "'thinking' is not a route; use one of default, background"),
        ("think", "nosuch,deepseek-reasoner", "There is no provider 'nosuch' in Providers (deepseek, ollama)"),
        ("think", "deepseek,deepseek-r1", "Provider 'deepseek' has no model 'deepseek-r1' (its models: deepseek-chat"),
        ("think", "deepseek-reasoner", 'is not "provider,model"'),
        ("think", "deepseek,", 'is not "provider,model"'),
    ],
)
def test_invalid_route_provider_or_model_is_refused_and_the_file_untouched(
    ccr: CcrHome, route: str, target: str, expected: str
) -> None:
    result = ccr.run("model", route, target)

    assert result.returncode == 2
    assert result.stderr.startswith("ccr: ")
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert ccr.config_path.read_text() == USER_CONFIG
    assert backups(ccr) == []
    assert sorted(p.name for p in ccr.home.iterdir()) == ["config.json"]


def test_missing_config_file_points_to_init(ccr: CcrHome) -> None:
    ccr.config_path.unlink()

    result = ccr.run("model", "think", "deepseek,deepseek-reasoner")

    assert result.returncode == 2
    assert "No config file" in result.stderr and "ccr init" in result.stderr


def test_unset_variables_do_not_block_a_route_change(ccr: CcrHome) -> None:
    env = {k: v for k, v in ccr.env.items() if k != "DEEPSEEK_API_KEY"}

    result = ccr.run("model", "think", "deepseek,deepseek-reasoner", env=env)

    assert result.returncode == 0, result.stderr
    assert "$DEEPSEEK_API_KEY is not set in this shell" in result.stderr
    assert '"api_key": "$DEEPSEEK_API_KEY"' in ccr.config_path.read_text()


def test_a_broken_route_elsewhere_is_named_and_nothing_written(ccr: CcrHome) -> None:
    broken = USER_CONFIG.replace('"longContextThreshold"', '"image": "ollama,llava",\n    "longContextThreshold"')
    ccr.config_path.write_text(broken)

    refused = ccr.run("model", "think", "deepseek,deepseek-reasoner")

    assert refused.returncode == 2
    assert "Router.image names model 'llava'" in refused.stderr
    assert ccr.config_path.read_text() == broken
    # ... and `ccr model` is how to fix exactly that route.
    fixed = ccr.run("model", "image", "deepseek,deepseek-chat")
    assert fixed.returncode == 0, fixed.stderr
    assert load_config(ccr.config_path, ccr.env).routes["image"].label == "deepseek,deepseek-chat"


def test_file_mode_and_symlink_are_kept(ccr: CcrHome, tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "ccr.json"
    real.parent.mkdir()
    real.write_text(USER_CONFIG)
    real.chmod(0o640)
    ccr.config_path.unlink()
    ccr.config_path.symlink_to(real)

    result = ccr.run("model", "think", "deepseek,deepseek-reasoner")

    assert result.returncode == 0, result.stderr
    assert ccr.config_path.is_symlink()
    assert real.stat().st_mode & 0o777 == 0o640
    assert '"think": "deepseek,deepseek-reasoner"' in real.read_text()
    assert len(list(real.parent.glob("ccr.json.*.bak"))) == 1


def test_uneditable_text_is_rewritten_as_json_with_a_warning(ccr: CcrHome) -> None:
    # A key spelled with a Unicode escape parses fine but is beyond the minimal editor: fall back, and say so.
    odd = USER_CONFIG.replace('"Router": {', "\\u0052outer: {")
    ccr.config_path.write_text(odd)

    result = ccr.run("model", "think", "deepseek,deepseek-reasoner")

    assert result.returncode == 0, result.stderr
    assert "comments and formatting are gone" in result.stderr
    [backup] = backups(ccr)
    assert backup.read_text() == odd
    config = load_config(ccr.config_path, ccr.env)
    assert config.routes["think"].label == "deepseek,deepseek-reasoner"
    assert config.long_context_threshold == 50000
    assert [t.label for t in config.fallback["default"]] == ["ollama,qwen2.5-coder:latest"]


def test_backups_are_kept_to_the_newest_five(ccr: CcrHome) -> None:
    values = ["deepseek,deepseek-reasoner", "ollama,qwen2.5-coder:latest"] * 4
    for value in values[:7]:
        result = ccr.run("model", "think", value)
        assert result.returncode == 0 and "->" in result.stdout, result.stdout + result.stderr
    kept = model_routes.backups(ccr.config_path)
    assert len(kept) == len(backups(ccr)) == model_routes.KEEP_BACKUPS == 5
    think = [str(load_config(path, ccr.env).routes["think"].model) for path in kept]
    # Each backup holds the state before its change: oldest two (deepseek-chat, -reasoner) pruned.
    assert think == ["qwen2.5-coder:latest", "deepseek-reasoner"] * 2 + ["qwen2.5-coder:latest"], [p.name for p in kept]


def test_many_changes_within_one_second_keep_the_newest_backups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pruning frees the oldest names; a newer backup must never take one of them and sort as the oldest."""
    path = tmp_path / "config.json"
    path.write_text(USER_CONFIG)
    monkeypatch.setattr(model_routes.time, "strftime", lambda fmt: "20260101-120000")
    env = {"DEEPSEEK_API_KEY": "k"}
    values = ["deepseek,deepseek-reasoner", "ollama,qwen2.5-coder:latest"] * 4
    for value in values:
        assert model_routes.set_route(path, "think", value, env).changed

    kept = model_routes.backups(path)
    assert [p.name for p in kept] == [f"config.json.20260101-120000-{n}.bak" for n in range(4, 9)]
    assert load_config(kept[-1], env).routes["think"].model == "deepseek-reasoner"  # before the 8th change


def test_a_failed_read_back_restores_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.json"
    path.write_text(USER_CONFIG)
    monkeypatch.setattr(model_routes, "_verify", lambda *args: "simulated disk trouble")

    with pytest.raises(model_routes.RouteError) as info:
        model_routes.set_route(path, "think", "deepseek,deepseek-reasoner", {"DEEPSEEK_API_KEY": "k"})

    assert info.value.exit_code == 1
    assert "previous file was restored" in str(info.value)
    assert path.read_text() == USER_CONFIG
    assert not list(tmp_path.glob(".config.json.*.tmp"))


def test_running_service_applies_the_change_without_a_restart(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    def reply(received: Received) -> Scripted:
        return openai_completion(f"served by {received.body['model']}")

    upstream.default = reply
    ccr.config_path.write_text(
        "// a test config\n{\n"
        f'  "HOST": "127.0.0.1",\n  "PORT": {ccr.port},\n'
        '  "Providers": [\n'
        f'    {{ "name": "fake", "api_base_url": "{upstream.url}/v1/chat/completions", "api_key": "sk-test",'
        ' "models": ["model-a", "model-b"] },\n'
        "  ],\n"
        '  "Router": {\n    "default": "fake,model-a", // switched by the test\n  },\n}\n'
    )
    started = ccr.run("start")
    assert started.returncode == 0, started.stderr

    def served_model() -> str:
        response = LOOPBACK.post(
            f"{ccr.url}/v1/messages",
            json={"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.headers["x-ccr-model"]

    assert served_model() == "model-a"
    pid = ccr.pid_info()
    changed = ccr.run("model", "default", "fake,model-b")
    assert changed.returncode == 0, changed.stderr
    assert "The running service" in changed.stdout

    deadline = time.monotonic() + 10
    while served_model() != "model-b":
        assert time.monotonic() < deadline, "the service did not pick up the new route"
        time.sleep(0.1)
    assert ccr.pid_info() == pid  # the same process: no restart
    assert os.path.exists(ccr.config_path)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('{"Router": {"default": "a,b"}}', '{"Router": {"default": "a,b", "think": "p,m"}}'),
        ('{"Router": {"default": "a,b",}}', '{"Router": {"default": "a,b", "think": "p,m",}}'),
        ("{Router: {default: 'a,b'}}", "{Router: {default: 'a,b', think: 'p,m'}}"),
        ('{"Router": {"think": "x,y" /* old */}}', '{"Router": {"think": "p,m" /* old */}}'),
        ('{"Router": {}}', '{"Router": { "think": "p,m" }}'),
        ('{"Router": null}', '{"Router": { "think": "p,m" }}'),
        ('{"Providers": []}', '{"Providers": [], "Router": { "think": "p,m" }}'),
        (
            '{\n  "Router": {\n    "default": "a,b" // keep\n  }\n}\n',
            '{\n  "Router": {\n    "default": "a,b", // keep\n    "think": "p,m"\n  }\n}\n',
        ),
        (
            '{\n  "Router": {\n    // "think": "x,y",\n  },\n}\n',
            '{\n  "Router": {\n    // "think": "x,y",\n    "think": "p,m"\n  },\n}\n',
        ),
        (
            '{\n\t"u": "http://x/*y*/", // {"Router": 1}\n\t"Router": {\n\t\t"think": "x,y",\n\t\t"think": "z,w"\n\t}}',
            '{\n\t"u": "http://x/*y*/", // {"Router": 1}\n\t"Router": {\n\t\t"think": "x,y",\n\t\t"think": "p,m"\n\t}}',
        ),
    ],
)
def test_minimal_edit_shapes(before: str, after: str) -> None:
    from ccrouter.config.json5_edit import set_string_member

    assert set_string_member(before, ("Router",), "think", "p,m") == after
