"""The real Claude Code CLI through ccrouter to a provider that is down: the user hears it in seconds, not minutes.

Before: ccrouter retried a refused local connection with back-off and answered a retryable 502, and Claude Code
retried that about ten times more: 211 s of silence. Now a refused connection on this machine gets no back-off
rounds, and an error after ccrouter's own retries carries `x-should-retry: false`, which Claude Code's SDK honours.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.support.claude_cli import require_claude, run_claude
from tests.support.router_process import free_port
from tests.support.router_setup import StartRouter

WITHIN_S = 15.0


def test_a_refused_provider_reaches_claude_code_as_an_error_within_seconds(
    start_router: StartRouter, tmp_path: Path
) -> None:
    require_claude()
    dead = f"http://127.0.0.1:{free_port()}/v1/chat/completions"
    router = start_router(
        {"Providers": [{"name": "local", "api_base_url": dead, "models": ["m"]}], "Router": {"default": "local,m"}}
    )
    home = tmp_path / "home"
    started = time.monotonic()
    result = run_claude(["-p", "Say hello.", "--output-format", "json"], router.url, home, timeout=120)
    took = time.monotonic() - started
    output = json.loads(result.stdout)
    assert output["is_error"] is True, output
    assert "Could not connect to provider 'local'" in output["result"], output["result"]
    assert took < WITHIN_S, f"Claude Code showed the error after {took:.1f} s"
    records = router.wait_for_records(1)
    assert [a["status"] for a in records[0]["attempts"]] == [502]  # one try: no back-off rounds for a refusal
    assert len(records) <= 2  # Claude Code did not retry (at most its own non-streaming fallback)
