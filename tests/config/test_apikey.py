"""Which APIKEYs a client can send at all, and which are too short for a router other machines can reach."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccrouter.config.apikey import apikey_problem, listens_beyond_loopback, weak_apikey_warning
from ccrouter.config.loading import load_config
from ccrouter.errors import ConfigError


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("clé-secrète", "a non-ASCII character (character 3 of 11)"),
        ("ключ-0123456789abcdef", "a non-ASCII character (character 1 of 21)"),
        ("line\nbreak-0123456789", "a control character (character 5 of 21)"),
        (" padded-0123456789 ", "starts or ends with a space"),
    ],
)
def test_keys_no_client_can_send_are_refused_with_the_fix(key: str, expected: str) -> None:
    problem = apikey_problem(key)
    assert problem is not None and expected in problem
    assert key.strip() not in problem  # the key itself is never quoted


def test_printable_ascii_keys_are_fine() -> None:
    assert apikey_problem("sk-Router_key.0123456789~!@#$%^&*() with spaces") is None
    assert apikey_problem(None) is None and apikey_problem("") is None


def test_the_short_key_warning_is_for_wide_listeners_only() -> None:
    assert weak_apikey_warning("0.0.0.0", "a" * 15) is not None
    assert weak_apikey_warning("192.168.1.20", "short") is not None
    assert weak_apikey_warning("::", "short") is not None
    assert weak_apikey_warning("0.0.0.0", "a" * 16) is None
    assert weak_apikey_warning("0.0.0.0", None) is None
    for loopback in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        assert not listens_beyond_loopback(loopback)
        assert weak_apikey_warning(loopback, "k") is None


def test_the_loader_refuses_a_key_no_client_could_send(tmp_path: Path) -> None:
    """So `ccr config check`, `ccr activate` and hot reload refuse it too, not only the service's start."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"APIKEY": "clé-secrète-0123456789"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="non-ASCII character"):
        load_config(path, environ={})
