"""Read a CCR-style `config.json` (JSON5), interpolate `$VAR`, validate it into frozen dataclasses.

A config written for the Node Claude Code Router v1/v2 loads unchanged. Anything that cannot work is refused
here, at load time, with a message naming the exact key path and the fix, rather than failing on some request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import json5

from ccrouter.config.policy import CooldownPolicy, RetryPolicy, cooldown_policy, max_body_bytes, retry_policy
from ccrouter.config.transformers import option_problem
from ccrouter.errors import ConfigError
from ccrouter.paths import home_dir
from ccrouter.user_code import UserCodeError, load_user_module

DEFAULT_PORT = 3456
DEFAULT_HOST = "127.0.0.1"
DEFAULT_TIMEOUT_MS = 600_000
DEFAULT_LONG_CONTEXT_THRESHOLD = 60_000
LOG_LEVELS = ("debug", "info", "warn", "warning", "error", "fatal", "trace")

# Transformer names a CCR config may use (REFERENCE §5), lower-cased. The first group picks the wire format.
ADAPTER_TRANSFORMERS = {
    "anthropic": "anthropic",
    "gemini": "gemini",
    "vertex-gemini": "vertex-gemini",
    "openai-responses": "openai-responses",
}
TWEAK_TRANSFORMERS = frozenset(
    {
        "openai",
        "deepseek",
        "openrouter",
        "groq",
        "cerebras",
        "maxtoken",
        "maxcompletiontokens",
        "sampling",
        "streamoptions",
        "cleancache",
        "customparams",
        "tooluse",
        "enhancetool",
        "reasoning",
        "forcereasoning",
        "extrathinktag",
    }
)
KNOWN_TRANSFORMERS = frozenset(ADAPTER_TRANSFORMERS) | TWEAK_TRANSFORMERS

# Router keys that hold a "provider,model" target, in CCR's spelling, with our scenario names.
ROUTE_KEYS = {
    "default": "default",
    "background": "background",
    "think": "think",
    "longContext": "longContext",
    "webSearch": "webSearch",
    "image": "image",
}

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def default_home() -> Path:
    return Path(home_dir())


def default_config_path() -> Path:
    return default_home() / "config.json"


@dataclass(frozen=True)
class TransformerPlugin:
    """A custom transformer: a Python file from the top-level `transformers` list (see providers/tweaks/plugins)."""

    name: str  # lower-cased, from the file's module-level `name`
    path: str
    options: Mapping[str, Any]  # the list entry's `options`
    module: ModuleType = field(compare=False)


@dataclass(frozen=True)
class TransformerUse:
    name: str  # lower-cased
    options: Mapping[str, Any] | None = None
    plugin: TransformerPlugin | None = None  # set when `name` is a custom transformer


@dataclass(frozen=True)
class Provider:
    name: str
    api_base_url: str
    api_key: str | None
    models: tuple[str, ...]
    transformers: tuple[TransformerUse, ...] = ()
    model_transformers: Mapping[str, tuple[TransformerUse, ...]] = field(default_factory=dict)

    def transformers_for(self, model: str) -> tuple[TransformerUse, ...]:
        """Provider-level transformers, then the model's own, as CCR applies them."""
        return self.transformers + self.model_transformers.get(model, ())

    def adapter_kind(self, model: str) -> str:
        for use in self.transformers_for(model):
            kind = ADAPTER_TRANSFORMERS.get(use.name)
            if kind:
                return kind
        return "openai-chat"

    def find_model(self, model: str) -> str | None:
        if model in self.models:
            return model
        folded = model.casefold()
        return next((m for m in self.models if m.casefold() == folded), None)


@dataclass(frozen=True)
class Target:
    provider: Provider
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider.name},{self.model}"


@dataclass(frozen=True)
class Config:
    providers: Mapping[str, Provider]  # keyed by casefolded name
    routes: Mapping[str, Target]  # scenario -> target, only the keys that are set
    fallback: Mapping[str, tuple[Target, ...]]
    long_context_threshold: int = DEFAULT_LONG_CONTEXT_THRESHOLD
    apikey: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    log: bool = True
    log_level: str = "info"
    api_timeout_ms: int = DEFAULT_TIMEOUT_MS
    proxy_url: str | None = None
    non_interactive_mode: bool = False
    custom_router_path: str | None = None
    claude_path: str | None = None
    status_line: Mapping[str, Any] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    cooldown: CooldownPolicy = field(default_factory=CooldownPolicy)
    max_body_bytes: int = 64 * 1024 * 1024
    raw: Mapping[str, Any] = field(default_factory=dict)  # interpolated, for custom routers
    path: Path | None = None

    def provider(self, name: str) -> Provider | None:
        return self.providers.get(name.casefold())

    def resolve(self, value: str) -> Target | None:
        """`provider,model` -> Target, matching both names case-insensitively; None when unknown."""
        provider_name, sep, model = value.partition(",")
        if not sep:
            return None
        provider = self.provider(provider_name.strip())
        if provider is None:
            return None
        found = provider.find_model(model.strip())
        return Target(provider, found) if found else None

    @property
    def home(self) -> Path:
        return self.path.parent if self.path else default_home()


# ---------------------------------------------------------------------------------------------------------------
# Loading


def load_config(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate the config at `path` (default `$CCR_HOME/config.json`)."""
    config_path = Path(path).expanduser() if path else default_config_path()
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"No config file at {config_path}. Create one (see the README's quick start), "
            "or point to yours with `ccr --config PATH` or $CCR_HOME."
        ) from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {config_path}: {exc.strerror}.") from None
    return parse_config(text, environ if environ is not None else os.environ, config_path)


def parse_config(text: str, environ: Mapping[str, str], path: Path | None = None) -> Config:
    data = _interpolate(read_json5_object(text, str(path) if path else "config"), environ, "")
    return _build(data, path)


def read_json5_object(text: str, where: str) -> dict[str, Any]:
    """The top-level object of a JSON5 config text, as written (no interpolation, no validation)."""
    try:
        data = json5.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{where} is not valid JSON5: {exc}. Fix the syntax and try again.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a JSON object at the top level.")
    return data


def _interpolate(value: Any, environ: Mapping[str, str], key_path: str) -> Any:
    if isinstance(value, str):
        if "$" not in value:
            return value

        def replace(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            if name not in environ:
                raise ConfigError(
                    f"{key_path or 'config'} references ${name}, which is not set. "
                    f"Export it (export {name}=...) before starting ccrouter, or write the value in the config."
                )
            return environ[name]

        return _VAR.sub(replace, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, environ, _join(key_path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, environ, f"{key_path}[{i}]") for i, v in enumerate(value)]
    return value


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _build(data: dict[str, Any], path: Path | None) -> Config:
    providers = _providers(data, _custom_transformers(data))
    router = _typed(data, "Router", dict, {})
    routes: dict[str, Target] = {}
    route_fallbacks: dict[str, tuple[Target, ...]] = {}
    for key, scenario in ROUTE_KEYS.items():
        value = router.get(key)
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, list):  # ccrouter's list form: the target, then its fallbacks
            targets = [_target(v, f"Router.{key}[{i}]", providers) for i, v in enumerate(value)]
            routes[scenario], route_fallbacks[scenario] = targets[0], tuple(targets[1:])
        else:
            routes[scenario] = _target(value, f"Router.{key}", providers)
    threshold = _int(router, "longContextThreshold", DEFAULT_LONG_CONTEXT_THRESHOLD, "Router.")
    fallback = _fallback(data, providers)
    for scenario, extra in route_fallbacks.items():
        fallback[scenario] = _unique(extra + fallback.get(scenario, ()))
    level = _typed(data, "LOG_LEVEL", str, "info").lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL is {level!r}; use one of debug, info, warn, error.")
    custom_router = _optional_str(data, "CUSTOM_ROUTER_PATH")
    status_line = _typed(data, "StatusLine", dict, {})
    return Config(
        providers={p.name.casefold(): p for p in providers},
        routes=routes,
        fallback=fallback,
        long_context_threshold=threshold,
        apikey=_optional_str(data, "APIKEY"),
        host=_typed(data, "HOST", str, DEFAULT_HOST) or DEFAULT_HOST,
        port=_int(data, "PORT", DEFAULT_PORT),
        log=_bool(data, "LOG", True),
        log_level={"warning": "warn", "trace": "debug", "fatal": "error"}.get(level, level),
        api_timeout_ms=_int(data, "API_TIMEOUT_MS", DEFAULT_TIMEOUT_MS),
        proxy_url=_optional_str(data, "PROXY_URL"),
        non_interactive_mode=_bool(data, "NON_INTERACTIVE_MODE", False),
        custom_router_path=str(Path(custom_router).expanduser()) if custom_router else None,
        claude_path=_optional_str(data, "CLAUDE_PATH"),
        status_line=status_line,
        retry=retry_policy(data),
        cooldown=cooldown_policy(data),
        max_body_bytes=max_body_bytes(data),
        raw=data,
        path=path,
    )


def _providers(data: dict[str, Any], custom: Mapping[str, TransformerPlugin]) -> list[Provider]:
    key = "Providers" if "Providers" in data else "providers"
    items = _typed(data, key, list, [])
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
        if name.lower() not in KNOWN_TRANSFORMERS and plugin is None:
            known = ", ".join(sorted(KNOWN_TRANSFORMERS | set(custom)))
            raise ConfigError(f"{where}[{i}] names an unknown transformer {name!r}. Known transformers: {known}.")
        problem = option_problem(name.lower(), options) if plugin is None else None
        if problem:
            raise ConfigError(f"{where}[{i}]: {problem}.")
        uses.append(TransformerUse(name.lower(), options, plugin))
    return tuple(uses)


PLUGIN_HOOKS = ("transform_request", "transform_response", "transform_chunk")


def _custom_transformers(data: dict[str, Any]) -> dict[str, TransformerPlugin]:
    """The plugin files under `transformers`, by the name each declares (module-level `name = "..."`)."""
    items = _typed(data, "transformers", list, [])
    plugins: dict[str, TransformerPlugin] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise ConfigError(f'transformers[{i}] must be an object like {{"path": "/path/to/plugin.py"}}.')
        options = item.get("options")
        if options is not None and not isinstance(options, dict):
            raise ConfigError(f"transformers[{i}].options must be an object.")
        path = str(Path(item["path"]).expanduser())
        try:
            module = load_user_module(path)
        except UserCodeError as exc:
            raise ConfigError(f"transformers[{i}].path: {exc}") from None
        name = getattr(module, "name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(f'transformers[{i}].path must define a module-level name = "...".')
        if name.lower() in ADAPTER_TRANSFORMERS:
            raise ConfigError(
                f"transformers[{i}] ({path}) is named {name!r}, which selects a built-in wire format; "
                "give it another name."
            )
        for hook in PLUGIN_HOOKS:
            if getattr(module, hook, None) is not None and not callable(getattr(module, hook)):
                raise ConfigError(f"transformers[{i}] ({path}): {hook} must be a function.")
        plugins[name.lower()] = TransformerPlugin(name.lower(), path, dict(options or {}), module)
    return plugins


def _target(value: Any, where: str, providers: list[Provider]) -> Target:
    if not isinstance(value, str) or "," not in value:
        raise ConfigError(
            f'{where} is {value!r}, but it must be "provider,model" (for example "deepseek,deepseek-chat"): '
            "the provider name from Providers, a comma, then one of its models."
        )
    provider_name, _, model = value.partition(",")
    provider = next((p for p in providers if p.name.casefold() == provider_name.strip().casefold()), None)
    if provider is None:
        names = ", ".join(p.name for p in providers) or "none are configured"
        raise ConfigError(
            f"{where} names provider {provider_name.strip()!r}, which is not in Providers ({names}). "
            "Add it to Providers or fix the name."
        )
    found = provider.find_model(model.strip())
    if found is None:
        raise ConfigError(
            f"{where} names model {model.strip()!r}, which provider {provider.name!r} does not list "
            f"(its models: {', '.join(provider.models)}). Add it to that provider's models or fix the name."
        )
    return Target(provider, found)


def _fallback(data: dict[str, Any], providers: list[Provider]) -> dict[str, tuple[Target, ...]]:
    block = _typed(data, "fallback", dict, {})
    result: dict[str, tuple[Target, ...]] = {}
    for key, items in block.items():
        if key not in ROUTE_KEYS:
            raise ConfigError(f"fallback.{key} is not a route; use one of {', '.join(ROUTE_KEYS)}.")
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list):
            raise ConfigError(f'fallback.{key} must be a list of "provider,model" strings.')
        result[ROUTE_KEYS[key]] = tuple(_target(v, f"fallback.{key}[{i}]", providers) for i, v in enumerate(items))
    return result


def _unique(targets: tuple[Target, ...]) -> tuple[Target, ...]:
    return tuple({target.label: target for target in reversed(targets)}[label] for label in _labels(targets))


def _labels(targets: tuple[Target, ...]) -> list[str]:
    return list(dict.fromkeys(target.label for target in targets))


_TYPE_NAMES: dict[type, str] = {dict: "an object", list: "a list", str: "a string", bool: "true or false"}


def _typed(data: Mapping[str, Any], key: str, kind: type, default: Any, prefix: str = "") -> Any:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ConfigError(f"{prefix}{key} must be {_TYPE_NAMES.get(kind, kind.__name__)}, not {_describe(value)}.")
    return value


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = _typed(data, key, str, None)
    return value or None


def _int(data: Mapping[str, Any], key: str, default: int, prefix: str = "") -> int:
    value = data.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().isdigit():  # "${PORT}" interpolates to a string
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{prefix}{key} must be a non-negative whole number, not {_describe(value)}.")
    return value


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, not {_describe(value)}.")
    return value


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) < 40 else "a string"
    return {dict: "an object", list: "a list", bool: f"{str(value).lower()}"}.get(type(value), repr(value))
