"""What a loaded config is: frozen dataclasses for the providers, their transformers, the routes and the settings.

`loading.py` builds them from `config.json`; everything else reads them. A route is keyed by its `Scenario`
(a `StrEnum`, so `config.routes["default"]` works too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ccrouter.config.policy import DEFAULT_MAX_BODY_MB, ConnectionLimits, CooldownPolicy, RetryPolicy
from ccrouter.config.scenarios import THINK_SIGNALS
from ccrouter.config.transformers import DEFAULT_WIRE_FORMAT, selects_wire_format
from ccrouter.paths import home_dir

if TYPE_CHECKING:
    from ccrouter.config.ledger_section import LedgerSettings
    from ccrouter.config.state_section import StateSettings
    from ccrouter.config.users_section import Users

DEFAULT_PORT = 3456
DEFAULT_HOST = "127.0.0.1"
DEFAULT_TIMEOUT_MS = 600_000
DEFAULT_LONG_CONTEXT_THRESHOLD = 60_000
DEFAULT_PING_INTERVAL_MS = 10_000
DEFAULT_CUSTOM_ROUTER_TIMEOUT_MS = 5_000
MAX_WORKERS = 64  # WORKERS: server processes on one port


@dataclass(frozen=True)
class TransformerPlugin:
    """A custom transformer: a Python file named in the top-level `transformers` list (see
    providers/openai_chat/tweaks/plugins.py)."""

    name: str  # lower-cased, from the file's module-level `name`
    path: str
    options: Mapping[str, Any]  # the list entry's `options`
    module: ModuleType | None = field(compare=False)  # None when loaded without running user code (`ccr` commands)


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
        """The wire format the model is served in: the first transformer that selects one, else OpenAI chat."""
        for use in self.transformers_for(model):
            if selects_wire_format(use.name):
                return use.name
        return DEFAULT_WIRE_FORMAT

    def find_model(self, model: str) -> str | None:
        if model in self.models:
            return model
        folded = model.casefold()
        return next((m for m in self.models if m.casefold() == folded), None)


@dataclass(frozen=True)
class Target:
    provider: Provider
    model: str

    @cached_property
    def label(self) -> str:
        """ "provider,model": also what routing compares targets by (cheaper than comparing whole providers)."""
        return f"{self.provider.name},{self.model}"


@dataclass(frozen=True)
class Config:
    providers: Mapping[str, Provider]  # keyed by casefolded name
    routes: Mapping[str, Target]  # Scenario -> target, only the routes that are set
    fallback: Mapping[str, tuple[Target, ...]]  # Scenario -> targets tried in order when its route's target fails
    long_context_threshold: int = DEFAULT_LONG_CONTEXT_THRESHOLD
    # Router.agents: a subagent type (casefolded: "explore", "plan", "general-purpose", "custom") -> its targets,
    # the first one first, then its fallbacks.
    agent_routes: Mapping[str, tuple[Target, ...]] = field(default_factory=dict)
    think_signals: frozenset[str] = frozenset(THINK_SIGNALS)  # Router.thinkSignals
    pin_turns: bool = True  # Router.pinTurns: every request of one user prompt stays on the target of its first
    apikey: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    log: bool = True
    log_level: str = "info"
    api_timeout_ms: int = DEFAULT_TIMEOUT_MS
    proxy_url: str | None = None
    non_interactive_mode: bool = False
    custom_router_path: str | None = None
    custom_router_timeout_ms: int = DEFAULT_CUSTOM_ROUTER_TIMEOUT_MS  # past it, routing goes on without its answer
    claude_path: str | None = None
    status_line: Mapping[str, Any] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    cooldown: CooldownPolicy = field(default_factory=CooldownPolicy)
    max_body_bytes: int = DEFAULT_MAX_BODY_MB * 1024 * 1024
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    # LEDGER, Prices, Baseline, Budgets; the loader always sets it (None, in a Config built by hand: the defaults).
    # Not imported at run time here: ledger_section reads Provider from this module.
    ledger: LedgerSettings | None = None
    # Users: per-user keys, routes, rate limits and budgets (users_section.py); None in a Config built by hand.
    users: Users | None = None
    ping_interval_ms: int = DEFAULT_PING_INTERVAL_MS  # a streamed reply's keep-alive ping while the provider is silent
    dashboard: bool = True  # `ccr ui` at /ui and /api/ui/ (false: not served, and nothing kept for it)
    ui_hosts: tuple[str, ...] = ()  # host names the dashboard answers to besides loopback ones (lower case, no port)
    workers: int = 1  # WORKERS: server processes sharing the port (gateway/workers.py); 1: a single process
    state: StateSettings | None = None  # STATE_URL: live state shared through Redis (state_section.py); None: in memory
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
        """The folder of the config file (the logs go beside it): `$CCR_HOME` when the path is not known."""
        return self.path.parent if self.path else Path(home_dir())
