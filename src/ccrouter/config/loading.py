"""Reading `config.json`: parse the JSON5, interpolate `$VAR`, validate every key into a `Config`.

A config written for the Node Claude Code Router v1/v2 loads unchanged. Anything that cannot work is refused
here, at load time, with a message naming the exact key path and the fix, rather than failing on some request.
Single values are read by the rules in `scalars.py`, transformer names and options checked against the registry
in `transformers.py`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import json5

from ccrouter.config.apikey import apikey_problem
from ccrouter.config.ledger_section import ledger_section
from ccrouter.config.model import (
    DEFAULT_CUSTOM_ROUTER_TIMEOUT_MS,
    DEFAULT_HOST,
    DEFAULT_PING_INTERVAL_MS,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT_MS,
    MAX_WORKERS,
    Config,
    Provider,
    Target,
    TransformerPlugin,
    TransformerUse,
)
from ccrouter.config.plugin_files import custom_transformers
from ccrouter.config.policy import connection_limits, cooldown_policy, max_body_bytes, retry_policy
from ccrouter.config.router_section import router_section, target_of, unique_targets
from ccrouter.config.scalars import read_bool, read_text, read_typed, read_whole_number
from ccrouter.config.scenarios import ROUTE_SCENARIOS, Scenario
from ccrouter.config.state_section import state_section
from ccrouter.config.transformers import TRANSFORMERS, option_problem
from ccrouter.config.users_section import users_section
from ccrouter.errors import ConfigError
from ccrouter.files import FileTooLarge, NotARegularFile, read_regular_file
from ccrouter.paths import default_config_path

MAX_CONFIG_BYTES = 10 * 1024 * 1024  # a real config is a few kB; more is a mistake (or a link to /dev/zero)
LOG_LEVELS = ("debug", "info", "warn", "warning", "error", "fatal", "trace")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def load_config(
    path: Path | str | None = None, environ: Mapping[str, str] | None = None, *, run_user_code: bool = True
) -> Config:
    """Load and validate the config at `path` (default `$CCR_HOME/config.json`). `run_user_code=False` reads the
    transformer plugin files without running them (for the commands that only describe the config)."""
    config_path = Path(path or default_config_path()).expanduser()
    text = read_config_text(config_path)
    return parse_config(text, environ if environ is not None else os.environ, config_path, run_user_code=run_user_code)


def read_config_text(config_path: Path) -> str:
    """The config file's text. Only a regular file (symlinks followed) is read, and at most MAX_CONFIG_BYTES of it:
    a FIFO would block the service and `ccr status` forever, /dev/zero would never end."""
    try:
        raw = read_regular_file(config_path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(
            f"No config file at {config_path}. Create one (see the README's quick start), "
            "or point to yours with `ccr --config PATH` or $CCR_HOME."
        ) from None
    except NotARegularFile as exc:
        target = os.path.realpath(config_path)
        link = f" (a link to {target})" if target != os.path.abspath(config_path) else ""
        raise ConfigError(
            f"{config_path}{link} is {exc.kind}, not a regular file, so ccrouter does not read it. "
            "Put the config in a plain file there, or point to yours with `ccr --config PATH`."
        ) from None
    except FileTooLarge:
        raise ConfigError(
            f"{config_path} is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MB, the most ccrouter reads of a config "
            "(a real one is a few kB). Check that this is your config file."
        ) from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {config_path}: {exc.strerror or exc}.") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{config_path} is not UTF-8 text (byte {exc.start} cannot be read). "
            "Save it as UTF-8 (any editor's encoding setting) and try again."
        ) from None


def parse_config(
    text: str, environ: Mapping[str, str], path: Path | None = None, *, run_user_code: bool = True
) -> Config:
    """Validate config text (JSON5), reading its `$VAR`s from `environ`; `path` is where it came from, if a file.
    `run_user_code` as for `load_config`."""
    data = _interpolate(read_json5_object(text, str(path) if path else "config"), environ, "")
    return _build(data, path, run_user_code)


def read_json5_object(text: str, where: str) -> dict[str, Any]:
    """The top-level object of a JSON5 config text, as written (no interpolation, no validation)."""
    try:
        data = json5.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{where} is not valid JSON5: {exc}. Fix the syntax and try again.") from None
    except RecursionError:
        raise ConfigError(f"{where} nests objects or arrays too deeply to read. Flatten it and try again.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a JSON object at the top level.")
    return data


def _interpolate(value: Any, environ: Mapping[str, str], key_path: str) -> Any:
    if isinstance(value, str):
        if "$" not in value:
            return value

        def replace(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            found = environ.get(name)
            if not found:  # an exported but empty variable is as good as none (an empty key means "no key")
                state = "not set" if found is None else "set but empty"
                raise ConfigError(
                    f"{key_path or 'config'} references ${name}, which is {state}. "
                    f"Export it (export {name}=...) before starting ccrouter, or write the value in the config."
                )
            return found

        return _VAR.sub(replace, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, environ, _join(key_path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, environ, f"{key_path}[{i}]") for i, v in enumerate(value)]
    return value


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _build(data: dict[str, Any], path: Path | None, run_user_code: bool) -> Config:
    providers = _providers(data, custom_transformers(data, run_user_code=run_user_code))
    section = router_section(read_typed(data, "Router", dict, {}), providers)
    fallback = _fallback(data, providers)
    for scenario, extra in section.route_fallbacks.items():
        fallback[scenario] = unique_targets(extra + fallback.get(scenario, ()))
    level = read_typed(data, "LOG_LEVEL", str, "info").lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL is {level!r}; use one of debug, info, warn, error.")
    custom_router = read_text(data, "CUSTOM_ROUTER_PATH")
    status_line: dict[str, Any] = read_typed(data, "StatusLine", dict, {})
    return Config(
        providers={p.name.casefold(): p for p in providers},
        routes=section.routes,
        fallback=fallback,
        long_context_threshold=section.long_context_threshold,
        agent_routes=section.agent_routes,
        think_signals=section.think_signals,
        pin_turns=section.pin_turns,
        apikey=_apikey(data),
        host=read_text(data, "HOST") or DEFAULT_HOST,
        port=read_whole_number(data, "PORT", DEFAULT_PORT),
        log=read_bool(data, "LOG", True),
        log_level={"warning": "warn", "trace": "debug", "fatal": "error"}.get(level, level),
        api_timeout_ms=read_whole_number(data, "API_TIMEOUT_MS", DEFAULT_TIMEOUT_MS),
        proxy_url=read_text(data, "PROXY_URL"),
        non_interactive_mode=read_bool(data, "NON_INTERACTIVE_MODE", False),
        custom_router_path=str(Path(custom_router).expanduser()) if custom_router else None,
        custom_router_timeout_ms=read_whole_number(
            data, "CUSTOM_ROUTER_TIMEOUT_MS", DEFAULT_CUSTOM_ROUTER_TIMEOUT_MS, minimum=1, unit="milliseconds"
        ),
        claude_path=read_text(data, "CLAUDE_PATH"),
        status_line=status_line,
        retry=retry_policy(data),
        cooldown=cooldown_policy(data),
        max_body_bytes=max_body_bytes(data),
        limits=connection_limits(data),
        ledger=ledger_section(data, providers),
        users=users_section(data, providers, _apikey(data)),
        ping_interval_ms=read_whole_number(
            data, "PING_INTERVAL_MS", DEFAULT_PING_INTERVAL_MS, minimum=1, unit="milliseconds"
        ),
        dashboard=read_bool(data, "DASHBOARD", True),
        ui_hosts=_ui_hosts(data),
        workers=_workers(data),
        state=state_section(data),
        raw=data,
        path=path,
    )


def _workers(data: dict[str, Any]) -> int:
    """WORKERS: how many server processes share the port, 1 to MAX_WORKERS, or "auto" (one per CPU)."""
    value = data.get("WORKERS")
    if isinstance(value, str) and value.strip().lower() == "auto":
        return max(1, min(MAX_WORKERS, os.cpu_count() or 1))
    workers = read_whole_number(data, "WORKERS", 1, minimum=1)
    if workers > MAX_WORKERS:
        raise ConfigError(
            f'WORKERS is {workers}; at most {MAX_WORKERS} server processes can share the port. Use "auto" for one '
            "per CPU."
        )
    return workers


def _ui_hosts(data: dict[str, Any]) -> tuple[str, ...]:
    """UI_HOSTS: the host names (as a browser puts them in `Host`, without the port) the dashboard may be reached
    under besides 127.0.0.1, localhost and [::1], e.g. the name of a machine serving a team."""
    names: list[Any] = read_typed(data, "UI_HOSTS", list, [])
    hosts = []
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name.strip() or any(c in name for c in "/:@ \t"):
            raise ConfigError(
                f'UI_HOSTS[{index}] is {name!r}; give a bare host name such as "router.example.internal" '
                "(no scheme, port or path)."
            )
        hosts.append(name.strip().lower())
    return tuple(hosts)


def _apikey(data: dict[str, Any]) -> str | None:
    """APIKEY, refused when no client could send it (non-ASCII, control characters, surrounding spaces)."""
    apikey = read_text(data, "APIKEY")
    problem = apikey_problem(apikey)
    if problem is not None:
        raise ConfigError(problem)
    return apikey


def _providers(data: dict[str, Any], custom: Mapping[str, TransformerPlugin]) -> list[Provider]:
    key = "Providers" if "Providers" in data else "providers"
    items: list[Any] = read_typed(data, key, list, [])
    providers: list[Provider] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} must be an object with name, api_base_url and models.")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or "," in name:
            raise ConfigError(f"{where}.name must be a non-empty string without commas.")
        if name.casefold() in seen:
            raise ConfigError(f"{where}.name {name!r} is used by two providers; give each a distinct name.")
        seen.add(name.casefold())
        url = item.get("api_base_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{where}.api_base_url must be an http(s) URL such as https://api.deepseek.com/chat/completions."
            )
        api_key = item.get("api_key")
        if api_key is not None and not isinstance(api_key, str):
            raise ConfigError(f"{where}.api_key must be a string.")
        models = item.get("models", [])
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise ConfigError(f'{where}.models must be a list of model names, e.g. ["deepseek-chat"].')
        if not models:
            raise ConfigError(f"{where}.models is empty; list the models this provider serves.")
        transformers, per_model = _transformer_block(item.get("transformer"), f"{where}.transformer", models, custom)
        providers.append(
            Provider(
                name=name.strip(),
                api_base_url=url,
                api_key=api_key or None,
                models=tuple(models),
                transformers=transformers,
                model_transformers=per_model,
            )
        )
    return providers


def _transformer_block(
    block: Any, where: str, models: list[str], custom: Mapping[str, TransformerPlugin]
) -> tuple[tuple[TransformerUse, ...], dict[str, tuple[TransformerUse, ...]]]:
    if block is None:
        return (), {}
    if not isinstance(block, dict):
        raise ConfigError(f'{where} must be an object like {{"use": ["deepseek"]}}.')
    provider_level = _use_list(block.get("use", []), f"{where}.use", custom)
    per_model: dict[str, tuple[TransformerUse, ...]] = {}
    for key, value in block.items():
        if key == "use":
            continue
        if key not in models:
            raise ConfigError(f"{where}.{key} configures a model that is not in this provider's models list.")
        if not isinstance(value, dict):
            raise ConfigError(f'{where}.{key} must be an object like {{"use": ["tooluse"]}}.')
        per_model[key] = _use_list(value.get("use", []), f"{where}.{key}.use", custom)
    return provider_level, per_model


def _use_list(items: Any, where: str, custom: Mapping[str, TransformerPlugin]) -> tuple[TransformerUse, ...]:
    if not isinstance(items, list):
        raise ConfigError(f'{where} must be a list of transformer names, e.g. ["deepseek"].')
    uses: list[TransformerUse] = []
    for i, item in enumerate(items):
        options: Any = None
        name: Any = item
        if isinstance(item, list) and item:
            name, options = item[0], (item[1] if len(item) > 1 else None)
        if not isinstance(name, str):
            raise ConfigError(f'{where}[{i}] must be a name or [name, {{options}}], e.g. ["maxtoken", {{...}}].')
        if options is not None and not isinstance(options, dict):
            raise ConfigError(f"{where}[{i}] options must be an object.")
        plugin = custom.get(name.lower())
        if name.lower() not in TRANSFORMERS and plugin is None:
            known = ", ".join(sorted(TRANSFORMERS.keys() | custom.keys()))
            raise ConfigError(f"{where}[{i}] names an unknown transformer {name!r}. Known transformers: {known}.")
        problem = option_problem(name.lower(), options) if plugin is None else None
        if problem:
            raise ConfigError(f"{where}[{i}]: {problem}.")
        uses.append(TransformerUse(name.lower(), options, plugin))
    return tuple(uses)


def _fallback(data: dict[str, Any], providers: list[Provider]) -> dict[str, tuple[Target, ...]]:
    block: dict[str, Any] = read_typed(data, "fallback", dict, {})
    result: dict[str, tuple[Target, ...]] = {}
    for key, items in block.items():
        if key not in ROUTE_SCENARIOS:
            raise ConfigError(f"fallback.{key} is not a route; use one of {', '.join(ROUTE_SCENARIOS)}.")
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list):
            raise ConfigError(f'fallback.{key} must be a list of "provider,model" strings.')
        result[Scenario(key)] = tuple(target_of(v, f"fallback.{key}[{i}]", providers) for i, v in enumerate(items))
    return result
