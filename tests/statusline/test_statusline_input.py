"""What `ccr statusline` says when its input is not what Claude Code sends (a JSON object on stdin)."""

from __future__ import annotations

import pytest

from ccrouter.statusline.line import statusline


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ("", "ccr: no statusline input (Claude Code sends a JSON object on stdin)"),
        ("  \n", "ccr: no statusline input (Claude Code sends a JSON object on stdin)"),
        ("not json at all", "ccr: the statusline input is not JSON (Claude Code sends a JSON object on stdin)"),
        ("\x00\xff", "ccr: the statusline input is not JSON (Claude Code sends a JSON object on stdin)"),
        ("[1, 2]", "ccr: the statusline input is a list, not a JSON object (Claude Code sends a JSON object on stdin)"),
        ('"hi"', "ccr: the statusline input is a string, not a JSON object (Claude Code sends a JSON object on stdin)"),
        ("42", "ccr: the statusline input is a number, not a JSON object (Claude Code sends a JSON object on stdin)"),
        ("null", "ccr: the statusline input is null, not a JSON object (Claude Code sends a JSON object on stdin)"),
    ],
)
def test_input_that_is_not_a_json_object_is_named(raw: str, said: str) -> None:
    assert statusline(raw, {"CCR_HOME": "/nonexistent-ccr-home"}) == said
