"""The transformer plugin files of the config's top-level `transformers: [{path, options}]` list.

A plugin's name is read from its text, never by running it (a module-level `name = "..."`), so the service and
every `ccr` command agree on it. Only the service runs the files (`run_user_code=True`), for their hooks; the
commands that only describe a config (`ccr status`, `ccr model`, `ccr activate`, `ccr config check`) read them
without running a line of the user's Python, and their plugins carry no module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ccrouter.config.model import TransformerPlugin
from ccrouter.config.scalars import read_typed
from ccrouter.config.transformers import selects_wire_format
from ccrouter.errors import ConfigError, UserCodeError
from ccrouter.user_code import load_user_module, module_string, read_user_source

PLUGIN_HOOKS = ("transform_request", "transform_response", "transform_chunk")


def custom_transformers(data: dict[str, Any], *, run_user_code: bool) -> dict[str, TransformerPlugin]:
    """The plugins under `transformers`, by the (lower-cased) name each declares."""
    items: list[Any] = read_typed(data, "transformers", list, [])
    plugins: dict[str, TransformerPlugin] = {}
    for i, item in enumerate(items):
        plugin = _plugin(item, f"transformers[{i}]", run_user_code)
        plugins[plugin.name] = plugin
    return plugins


def _plugin(item: Any, where: str, run_user_code: bool) -> TransformerPlugin:
    if not isinstance(item, dict) or not isinstance(item.get("path"), str):
        raise ConfigError(f'{where} must be an object like {{"path": "/path/to/plugin.py"}}.')
    options = item.get("options")
    if options is not None and not isinstance(options, dict):
        raise ConfigError(f"{where}.options must be an object.")
    path = str(Path(item["path"]).expanduser())
    try:
        name = module_string(read_user_source(path), "name")
        module = load_user_module(path) if run_user_code else None
    except UserCodeError as exc:
        raise ConfigError(f"{where}.path: {exc}") from None
    if not name:
        raise ConfigError(
            f'{where}.path ({path}) must define a module-level name = "..." as a plain string, '
            "so that ccr can read it without running the file."
        )
    if selects_wire_format(name.lower()):
        raise ConfigError(
            f"{where} ({path}) is named {name!r}, which selects a built-in wire format; give it another name."
        )
    for hook in PLUGIN_HOOKS if module is not None else ():
        if getattr(module, hook, None) is not None and not callable(getattr(module, hook)):
            raise ConfigError(f"{where} ({path}): {hook} must be a function.")
    return TransformerPlugin(name.lower(), path, dict(options or {}), module)
