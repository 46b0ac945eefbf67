"""`ccr code` with the real Claude Code CLI, through the router, to a scripted OpenAI-format provider.

The provider (`bash_tool_loop`) first asks for a Bash tool call, then, once the tool result comes back as a
`role: "tool"` message, answers with text that quotes it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.ccr_cli import CcrHome, fake_provider_config
from tests.support.claude_cli import claude_env, require_claude
from tests.support.fake_upstream import ScriptedUpstream, bash_tool_loop, openai_tool_messages

MARKER = "ccr-tool-ran"


def test_claude_code_runs_a_tool_loop_through_ccr(ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path) -> None:
    claude = require_claude()
    upstream.default = bash_tool_loop(MARKER)
    ccr.write_config(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(claude)))
    home = tmp_path / "user-home"
    home.mkdir()
    env = claude_env("http://unused.invalid", home, {"CCR_HOME": str(ccr.home)})
    for key in ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "NO_PROXY", "no_proxy"):
        env.pop(key, None)  # `ccr code` must provide these
    env["ANTHROPIC_API_KEY"] = "sk-ant-must-not-be-used"

    result = ccr.run(
        "code",
        "-p",
        "run the echo",
        "--allowedTools",
        "Bash",
        "--output-format",
        "json",
        env=env,
        cwd=home,
        timeout=240,
    )

    details = f"exit {result.returncode}\nstdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}"
    assert result.returncode == 0, details
    output = json.loads(result.stdout)
    assert f"All done. The tool said: {MARKER}" in output["result"], details
    assert output.get("is_error") is False, details
    tool_results = [text for r in upstream.received for text in openai_tool_messages(r.body)]
    assert any(MARKER in text for text in tool_results), [r.body for r in upstream.received]
    # The provider got the router's provider key, never the user's Anthropic key.
    for r in upstream.received:
        assert "sk-ant-must-not-be-used" not in json.dumps(r.headers)
    assert ccr.pid_info() is None and ccr.server_pids() == []  # the service it started stopped when it ended
