"""Where the tests find the repository's files: everything they read lives inside the repository."""

from __future__ import annotations

from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent
FIXTURES_DIR = TESTS_DIR / "fixtures"
EXAMPLES_DIR = REPO_ROOT / "examples"
CLAUDE_CODE_DIR = FIXTURES_DIR / "claude_code"  # what Claude Code sent, captured (see the README.md there)
# The captures there that are /v1/messages bodies (the others are count_tokens bodies, and routing/).
CLAUDE_CODE_MESSAGE_BODIES = ("main_turn", "tool_result_followup", "thinking_budget", "interactive_turn", "model_probe")
