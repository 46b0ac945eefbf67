"""`ccr init`: a commented starter config, built from the provider keys in the environment and a local Ollama.

Keys are referenced as `"$VAR"`, never written into the file. Every route is filled from what is available, by a
fixed preference per route (a local or fast model for background chores, a reasoning model for think, a 1M-token
model for long context, a search-capable model for web search, a vision model for images when the default has
none); routes that would only repeat the default are left as commented examples. The providers and models to
choose from are data, in `starter_catalogue.json`; this module plans the routes and writes the commented text.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ccrouter.config.model import DEFAULT_LONG_CONTEXT_THRESHOLD
from ccrouter.config.scenarios import ROUTE_SCENARIOS, Scenario

OLLAMA_URL = "http://127.0.0.1:11434"
OLLAMA_TIMEOUT_S = 0.5
OLLAMA_URL_ENV = "CCR_OLLAMA_URL"
CATALOGUE_FILE = "starter_catalogue.json"


@dataclass(frozen=True)
class Entry:
    """One provider ccr init can write."""

    name: str
    title: str
    env: str | None  # the key's environment variable; None for a local server
    url: str
    models: tuple[str, ...]
    transformer: str | None
    picks: Mapping[str, str]  # route -> model, for the routes this provider is good at
    vision: frozenset[str] = frozenset()  # models that read images
    note: str = ""

    def target(self, route: str) -> str | None:
        model = self.picks.get(route)
        return f"{self.name},{model}" if model else None


def _entry(item: Mapping[str, Any]) -> Entry:
    return Entry(
        name=item["name"],
        title=item["title"],
        env=item["env"],
        url=item["url"],
        models=tuple(item["models"]),
        transformer=item["transformer"],
        picks={Scenario(route): model for route, model in item["routes"].items()},
        vision=frozenset(item.get("vision", ())),
        note=item.get("note", ""),
    )


def _read_catalogue() -> tuple[tuple[Entry, ...], dict[str, tuple[str, ...]]]:
    data = json.loads(resources.files("ccrouter.config").joinpath(CATALOGUE_FILE).read_text(encoding="utf-8"))
    preference: dict[str, tuple[str, ...]] = {
        Scenario(route): tuple(names) for route, names in data["preference"].items()
    }
    return tuple(_entry(item) for item in data["providers"]), preference


# The providers a key in the environment adds, and, per route, the providers that serve it best, first choice
# first (a provider without a pick for the route is skipped).
CATALOGUE, PREFERENCE = _read_catalogue()

ROUTE_COMMENTS: Mapping[str, str] = {
    Scenario.DEFAULT: "Every request that no route below takes.",
    Scenario.BACKGROUND: "Claude Code's chores (the session title, haiku-class requests): a cheap or local model.",
    Scenario.THINK: 'When you ask for more reasoning (plan mode, "ultrathink", --effort high): a reasoning model.',
    Scenario.LONG_CONTEXT: "Conversations estimated above longContextThreshold tokens: a model with a larger context.",
    Scenario.WEB_SEARCH: "Requests that offer the web search tool: a model that can search by itself.",
    Scenario.IMAGE: "Requests whose last user message carries an image: a model that reads images.",
    Scenario.SUBAGENT: 'Subagents (Task/Agent tool); "agents": {"Explore": "provider,model"} routes one type apart.',
    Scenario.COMPACTION: "Claude Code summarising a long conversation (/compact, auto-compact): a long-context model.",
}


@dataclass(frozen=True)
class OllamaProbe:
    base_url: str
    models: tuple[tuple[str, int], ...] = ()  # (name, size in bytes) as /api/tags lists them
    answered: bool = False
    problem: str | None = None  # it answered, but not usably


@dataclass
class Plan:
    providers: list[Entry]
    missing: list[Entry]
    routes: dict[str, str]
    fallback: dict[str, list[str]]
    ollama: OllamaProbe | None
    notes: list[str] = field(default_factory=list)


def ollama_base_url(environ: Mapping[str, str]) -> str:
    """$CCR_OLLAMA_URL (a base URL, or its /api/tags or /v1/chat/completions URL) or the local default."""
    url = (environ.get(OLLAMA_URL_ENV) or OLLAMA_URL).strip().rstrip("/")
    for suffix in ("/api/tags", "/v1/chat/completions", "/v1"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def probe_ollama(base_url: str, timeout: float = OLLAMA_TIMEOUT_S) -> OllamaProbe:
    """GET /api/tags, directly (no proxy), briefly: a local Ollama answers at once or is not there."""
    if not base_url.startswith(("http://", "https://")):
        return OllamaProbe(base_url, problem=f"{OLLAMA_URL_ENV} must be an http(s) URL")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{base_url}/api/tags", timeout=timeout) as response:
            body = response.read(4_000_000)
    except urllib.error.HTTPError as exc:
        return OllamaProbe(base_url, answered=True, problem=f"it answered /api/tags with HTTP {exc.code}")
    except (OSError, ValueError):
        return OllamaProbe(base_url)
    try:
        listed = json.loads(body)["models"]
        models: tuple[tuple[str, int], ...] = tuple(
            (str(item["name"]), _size(item.get("size")))
            for item in listed
            if isinstance(item, dict) and _usable_model_name(item.get("name"))
        )
    except (ValueError, KeyError, TypeError):
        return OllamaProbe(base_url, answered=True, problem="its /api/tags answer is not Ollama's model list")
    if not models:
        return OllamaProbe(base_url, answered=True, problem="it has no models yet (`ollama pull qwen2.5-coder`)")
    return OllamaProbe(base_url, models, answered=True)


def _size(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _usable_model_name(name: object) -> bool:
    # "$" would be read as a variable and "," splits "provider,model": such names cannot be routed to.
    return isinstance(name, str) and bool(name.strip()) and "$" not in name and "," not in name


def ollama_entry(probe: OllamaProbe) -> Entry:
    names = tuple(name for name, _ in probe.models)
    chat = [m for m in probe.models if "embed" not in m[0].lower()] or list(probe.models)  # not embedding models
    coders = [m for m in chat if "code" in m[0].lower()]
    main = max(coders or chat, key=lambda m: m[1])[0]  # a coding model, else the largest
    return Entry(
        "ollama",
        "Ollama",
        None,
        f"{probe.base_url}/v1/chat/completions",
        names,
        None,
        {"default": main, "think": main, "background": main},
        note=f"local, at {probe.base_url}, no key needed. Claude Code needs tool calling, which many local models lack",
    )


def make_plan(environ: Mapping[str, str], ollama: OllamaProbe | None) -> Plan:
    found = [entry for entry in CATALOGUE if entry.env and environ.get(entry.env, "").strip()]
    missing = [entry for entry in CATALOGUE if entry not in found]
    if ollama is not None and ollama.models:
        found.append(ollama_entry(ollama))
    plan = Plan(found, missing, {}, {}, ollama)
    by_name = {entry.name: entry for entry in found}

    def candidates(route: str) -> list[Entry]:
        return [by_name[name] for name in PREFERENCE.get(route, ()) if name in by_name and route in by_name[name].picks]

    default_candidates = candidates("default")
    if default_candidates:
        plan.routes["default"] = str(default_candidates[0].target("default"))
    default = plan.routes.get("default")
    default_entry = default_candidates[0] if default_candidates else None
    for route in ROUTE_SCENARIOS:
        if route == "default" or not default:
            continue
        if route == "image" and default_entry and default_entry.picks["default"] in default_entry.vision:
            continue  # the default model reads images itself
        choices = candidates(route)
        if choices and choices[0].target(route) != default:
            plan.routes[route] = str(choices[0].target(route))
    for route in (Scenario.DEFAULT, Scenario.THINK):
        chosen = plan.routes.get(route)
        others = [entry for entry in candidates(route) if chosen and not chosen.startswith(f"{entry.name},")]
        if chosen and others:
            plan.fallback[route] = [str(others[0].target(route))]
    return plan


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def render(plan: Plan, today: str) -> str:
    lines: list[str] = []
    add = lines.append
    add(f"// A Claude Code Router config (ccrouter reads the Node CCR's format), written by `ccr init` on {today}.")
    add("//")
    add('// JSON5: comments like these and trailing commas are fine. A string like "$DEEPSEEK_API_KEY" (or')
    add('// "${DEEPSEEK_API_KEY}") is read from the environment when the service starts, so keys stay out of')
    add("// this file. `ccr config check` validates the file; a running service applies valid changes by itself.")
    add("// `ccr model` shows the routing table; `ccr model think deepseek,deepseek-reasoner` changes one route.")
    add("//")
    add(f"// Found: {found_summary(plan)}.")
    add("{")
    add("  // Where the service listens; `ccr code` points Claude Code at it. Changing these needs `ccr restart`.")
    add('  "HOST": "127.0.0.1",')
    add('  "PORT": 3456,')
    add("")
    add("  // With APIKEY set, clients must send it (x-api-key or Authorization: Bearer). Without it ccrouter only")
    add("  // listens on 127.0.0.1, whatever HOST says.")
    add('  // "APIKEY": "$CCR_APIKEY",')
    add("")
    add('  // A JSON-lines log in logs/ccr-router.log beside this file. "debug" adds request bodies; keys are')
    add("  // always redacted.")
    add('  "LOG": true,')
    add('  "LOG_LEVEL": "info",')
    add("")
    add("  // How long a provider may take to start answering, and to send the next piece of a stream (ms).")
    add('  "API_TIMEOUT_MS": 600000,')
    add("")
    add("  // An HTTP proxy for requests to the providers.")
    add('  // "PROXY_URL": "http://127.0.0.1:7890",')
    add("")
    add("  // The model servers requests may go to:")
    add('  //   name          what routes call it ("name,model")')
    add("  //   api_base_url  the full endpoint URL")
    add('  //   api_key       the key; "$VAR" reads it from the environment (a local server needs none)')
    add("  //   models        the model names routes may use")
    add('  //   transformer   the provider\'s dialect, e.g. {"use": ["deepseek"]}; per model:')
    add('  //                 {"<model>": {"use": [...]}}')
    add('  "Providers": [')
    for entry in plan.providers:
        lines.extend(_provider_block(entry))
    templates = plan.missing
    if templates or not any(entry.name == "ollama" for entry in plan.providers):
        if plan.providers:
            add("")
        add("    // More providers: export the key (or start Ollama), uncomment the line, then route to it below.")
        for entry in templates:
            add(f"    // {_inline_provider(entry)}")
        if not any(entry.name == "ollama" for entry in plan.providers):
            add(
                '    // { "name": "ollama", "api_base_url": "http://127.0.0.1:11434/v1/chat/completions", '
                '"models": ["qwen2.5-coder:7b"] },'
            )
    add("  ],")
    add("")
    add('  // Which model serves which kind of request; each value is "provider,model" from Providers. In Claude Code,')
    add("  // `/model provider,model` picks one by hand for the rest of the session.")
    add('  "Router": {')
    for route in ROUTE_SCENARIOS:
        add(f"    // {route}: {ROUTE_COMMENTS[route]}")
        value = plan.routes.get(route)
        if value:
            add(f"    {json.dumps(route)}: {json.dumps(value, ensure_ascii=False)},")
        else:
            add(f"    // Not set: {_unset_reason(plan, route)}")
            add(f'    // {json.dumps(route)}: "provider,model",')
        if route == "longContext":
            add("    // The token estimate (cl100k) above which a conversation counts as long.")
            add(f'    "longContextThreshold": {DEFAULT_LONG_CONTEXT_THRESHOLD},')
    add("  },")
    add("")
    add("  // Tried in order when a route's target fails (an error status or no answer), same form as the routes.")
    if plan.fallback:
        add('  "fallback": {')
        for scenario, targets in plan.fallback.items():
            add(f"    {json.dumps(scenario)}: {json.dumps(targets, ensure_ascii=False)},")
        add("  },")
    else:
        add('  // "fallback": { "default": ["provider,model"] },')
    add("")
    add('  // A Python file defining router(request, config) that returns "provider,model" (or None for the rules).')
    add('  // "CUSTOM_ROUTER_PATH": "~/.claude-code-router/custom_router.py",')
    add("}")
    return "\n".join(lines) + "\n"


def found_summary(plan: Plan) -> str:
    keys = [str(entry.env) for entry in plan.providers if entry.env]
    return f"{', '.join(keys) if keys else 'no provider keys'} in the environment; {_ollama_found(plan)}"


def _ollama_found(plan: Plan) -> str:
    probe = plan.ollama
    if probe is None:
        return "Ollama not probed"
    if probe.models:
        return f"Ollama at {probe.base_url} with {len(probe.models)} model{'s' if len(probe.models) != 1 else ''}"
    if probe.problem:
        return f"something at {probe.base_url} answered but was not used: {probe.problem}"
    return f"no Ollama answered at {probe.base_url}"


def _provider_block(entry: Entry) -> list[str]:
    comment = f"    // {entry.title}" + (f" (${entry.env} is set)" if entry.env else "") + f": {entry.note}."
    lines = [comment, "    {"]
    lines.append(f'      "name": {json.dumps(entry.name)},')
    lines.append(f'      "api_base_url": {json.dumps(entry.url)},')
    if entry.env:
        lines.append(f'      "api_key": "${entry.env}",')
    lines.append(f'      "models": {json.dumps(list(entry.models), ensure_ascii=False)},')
    if entry.transformer:
        lines.append(f'      "transformer": {{ "use": [{json.dumps(entry.transformer)}] }},')
    lines.append("    },")
    return lines


def _inline_provider(entry: Entry) -> str:
    parts = [f'"name": {json.dumps(entry.name)}', f'"api_base_url": {json.dumps(entry.url)}']
    if entry.env:
        parts.append(f'"api_key": "${entry.env}"')
    parts.append(f'"models": {json.dumps(list(entry.models))}')
    if entry.transformer:
        parts.append(f'"transformer": {{ "use": [{json.dumps(entry.transformer)}] }}')
    return "{ " + ", ".join(parts) + " },"


def _unset_reason(plan: Plan, route: str) -> str:
    if route == "default":
        return "there is no provider yet; requests are refused until default is set."
    if "default" not in plan.routes:
        return "set default first."
    if route == "image":
        return "the default model reads images itself, or no configured model does."
    if route == "webSearch":
        return 'default takes these (models that search: anthropic, openrouter\'s ":online" ones, gemini).'
    if route == "longContext":
        return "default takes these (no configured model has a larger context than the default)."
    if route == "subagent":
        return "subagents follow the other routes, like the main conversation."
    if route == "compaction":
        return "longContext takes these when the conversation is long, else default."
    return "default takes these."
