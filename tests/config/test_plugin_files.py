"""The config keys and plugin files of the user's Python, as the loader reads them: `CUSTOM_ROUTER_TIMEOUT_MS`, and
a plugin's `name` read from the file's text whether or not the file runs (`run_user_code`), so the service and the
`ccr` commands that never run user code agree on it. The behaviour they lead to, against the real service and
`ccr`, is in tests/security/test_custom_code.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ccrouter.config.loading import parse_config
from ccrouter.config.model import DEFAULT_CUSTOM_ROUTER_TIMEOUT_MS
from ccrouter.errors import ConfigError


def test_the_time_limit_is_a_config_key_with_a_safe_default() -> None:
    assert parse_config("{}", {}).custom_router_timeout_ms == DEFAULT_CUSTOM_ROUTER_TIMEOUT_MS
    assert 0 < DEFAULT_CUSTOM_ROUTER_TIMEOUT_MS <= 60_000
    assert parse_config('{"CUSTOM_ROUTER_TIMEOUT_MS": "$T"}', {"T": "250"}).custom_router_timeout_ms == 250
    for wrong in (0, -5, "soon", True):
        with pytest.raises(ConfigError, match="CUSTOM_ROUTER_TIMEOUT_MS"):
            parse_config(json.dumps({"CUSTOM_ROUTER_TIMEOUT_MS": wrong}), {})


def test_a_plugin_name_is_read_from_its_text_in_the_service_too(tmp_path: Path) -> None:
    """So the service and the commands that never run the file agree on it: a name worked out at run time is
    refused (with the fix) both ways, and both ways give the same plugin, with its module only when it ran."""
    plugin = _write(tmp_path / "plugin.py", 'name = "my-" + "tweak"\n')
    provider: dict[str, Any] = {"name": "p", "api_base_url": "http://127.0.0.1:9/v1", "models": ["m"]}
    text = json.dumps({"transformers": [{"path": plugin}], "Providers": [provider]})
    for run_user_code in (True, False):
        with pytest.raises(ConfigError, match=r'must define a module-level name = "..." as a plain string'):
            parse_config(text, {}, run_user_code=run_user_code)

    _write(tmp_path / "plugin.py", 'name: str = "My-Tweak"\ndef transform_request(request, options):\n    pass\n')
    provider["transformer"] = {"use": ["my-tweak"]}
    text = json.dumps({"transformers": [{"path": plugin}], "Providers": [provider]})
    ran, read = (parse_config(text, {}, run_user_code=flag).providers["p"].transformers[0] for flag in (True, False))
    assert ran.name == read.name == "my-tweak"
    assert ran.plugin is not None and ran.plugin.module is not None and callable(ran.plugin.module.transform_request)
    assert read.plugin is not None and read.plugin.module is None


def _write(path: Path, source: str) -> str:
    path.write_text(source)
    return str(path)
