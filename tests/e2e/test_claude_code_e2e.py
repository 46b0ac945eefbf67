"""The real Claude Code CLI (2.1.332) in print mode, through ccrouter, to an OpenAI-compatible provider.

The provider first answers with a Bash tool call; Claude Code runs the tool and sends the result back; the
provider then answers with text that quotes the tool's output, and Claude Code prints it and exits 0.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.claude_cli import require_claude, run_claude
from tests.support.fake_upstream import ScriptedUpstream, bash_tool_loop, openai_tool_names
from tests.support.router_setup import StartRouter, openai_provider

MARKER = "ccr-e2e-marker-7731"


def test_claude_code_runs_a_tool_loop_through_ccrouter(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path
) -> None:
    require_claude()
    upstream.default = bash_tool_loop(MARKER)
    router = start_router({"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}})
    home = tmp_path / "home"
    home.mkdir()
    result = run_claude(
        ["-p", "Run the echo command with Bash", "--allowedTools", "Bash", "--output-format", "json"],
        base_url=router.url,
        home=home,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["is_error"] is False
    assert f"All done. The tool said: {MARKER}" in output["result"]
    main_turns = [r.body for r in upstream.received if "Bash" in openai_tool_names(r.body)]
    assert len(main_turns) >= 2
    follow_up = [m for m in main_turns[-1]["messages"] if m["role"] == "tool"]
    assert follow_up and follow_up[-1]["tool_call_id"] == "call_bash_1" and MARKER in follow_up[-1]["content"]
    assert main_turns[-1]["model"] == "fake-model"
    records = router.wait_for_records(len(upstream.received))
    assert {r["status"] for r in records} == {200}
    assert all(r["session_id"] for r in records)
