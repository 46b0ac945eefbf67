"""`ccr code` when no provider of the default route can be reached: one warning on stderr, within seconds, before the
stand-in for Claude Code runs (it still runs); no warning when one provider answers or a proxy hides them all."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.service.test_cli_code import _env, _record, _stand_in
from tests.support.ccr_cli import CcrHome
from tests.support.dead_ends import hanging_port, refused_port
from tests.support.fake_upstream import ScriptedUpstream

WARNING = "ccr: warning: no provider of the default route can be reached"


def _config(port: int, claude: Path, providers: dict[str, str], route: list[str]) -> dict[str, Any]:
    return {
        "HOST": "127.0.0.1",
        "PORT": port,
        "CLAUDE_PATH": str(claude),
        "Providers": [
            {"name": name, "api_base_url": url, "api_key": "sk-test-provider-key-123456", "models": ["m"]}
            for name, url in providers.items()
        ],
        "Router": {"default": route},
    }


def test_unreachable_default_route_warns_within_seconds_and_claude_still_runs(ccr: CcrHome, tmp_path: Path) -> None:
    claude = _stand_in(tmp_path / "bin")
    record = tmp_path / "record.json"
    with refused_port() as refused, hanging_port() as hanging:
        providers = {
            "local": f"http://127.0.0.1:{refused}/v1/chat/completions",
            "slow": f"http://127.0.0.1:{hanging}/v1/chat/completions",
            "gone": "https://nonexistent.invalid/v1/chat/completions",
        }
        ccr.write_config(_config(ccr.port, claude, providers, ["local,m", "slow,m", "gone,m"]))

        started = time.monotonic()
        result = ccr.run("code", "-p", "hi", env=_env(ccr, record))
        elapsed = time.monotonic() - started

    assert result.returncode == 7, result.stderr  # the stand-in ran all the same
    assert _record(record)["argv"] == ["-p", "hi"]
    assert result.stderr.count(WARNING) == 1, result.stderr
    assert f"local,m at 127.0.0.1:{refused}: connection refused" in result.stderr
    assert f"slow,m at 127.0.0.1:{hanging}: timed out" in result.stderr
    assert "gone,m at nonexistent.invalid:443: host name not found (no DNS)" in result.stderr
    assert "api_base_url" in result.stderr
    assert "ccr model default PROVIDER,MODEL" in result.stderr
    assert "sk-test-provider-key" not in result.stderr
    # Service start, the 2 s budget that the hanging connect uses up, the stand-in: seconds, not the minutes a
    # SYN that is never answered takes to fail.
    assert elapsed < 15, elapsed


def test_one_reachable_provider_or_a_proxy_means_no_warning(
    ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    claude = _stand_in(tmp_path / "bin")
    record = tmp_path / "record.json"
    with refused_port() as refused:
        dead = f"http://127.0.0.1:{refused}/v1/chat/completions"
        # Shown first that this config warns, so the runs after it prove the warning is withheld for a reason.
        ccr.write_config(_config(ccr.port, claude, {"local": dead}, ["local,m"]))
        warned = ccr.run("code", "-p", "hi", env=_env(ccr, record))
        assert warned.returncode == 7, warned.stderr
        assert WARNING in warned.stderr

        # A fallback that answers is enough.
        live = f"{upstream.url}/v1/chat/completions"
        ccr.write_config(_config(ccr.port, claude, {"local": dead, "fake": live}, ["local,m", "fake,m"]))
        quiet = ccr.run("code", "-p", "hi", env=_env(ccr, record))
        assert quiet.returncode == 7, quiet.stderr
        assert WARNING not in quiet.stderr

        # Through PROXY_URL the providers' own hosts say nothing: not checked, no warning.
        ccr.write_config({**_config(ccr.port, claude, {"local": dead}, ["local,m"]), "PROXY_URL": "http://127.0.0.1:1"})
        proxied = ccr.run("code", "-p", "hi", env=_env(ccr, record))
        assert proxied.returncode == 7, proxied.stderr
        assert WARNING not in proxied.stderr

    assert upstream.received == []  # the check connected to the live provider and sent it nothing
