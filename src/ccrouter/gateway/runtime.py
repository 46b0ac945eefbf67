"""Everything the gateway derives from one config: swapped whole on reload, while in-flight requests keep theirs."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from ccrouter.config.model import Config, Target
from ccrouter.gateway.accounting import Accounts, Ledger
from ccrouter.gateway.custom_router import CustomRouter, load_custom_router
from ccrouter.gateway.logs import Redactor, url_secrets
from ccrouter.providers.base import Adapter
from ccrouter.providers.registry import make_adapter


class Runtime:
    """One config with its custom router (loaded now), its redactor, its prices and budgets (`accounts`, charging
    into `ledger`), and its adapters (made on first use)."""

    def __init__(self, config: Config, ledger: Ledger | None = None) -> None:
        self.config = config
        self.ledger = ledger
        self.accounts = Accounts(config, ledger)
        self.custom_router: CustomRouter | None = (
            load_custom_router(config.custom_router_path, config.custom_router_timeout_ms)
            if config.custom_router_path
            else None
        )
        self.redact = Redactor(secrets_of(config))
        self._adapters: dict[tuple[str, str], Adapter] = {}

    def adapter(self, target: Target) -> Adapter:
        key = (target.provider.name, target.model)
        adapter = self._adapters.get(key)
        if adapter is None:
            adapter = self._adapters[key] = make_adapter(target.provider, target.model)
        return adapter


def secrets_of(config: Config) -> list[str | None]:
    """Every secret `config` holds: the APIKEY, each provider's key and the credentials written into its URL, and
    those of PROXY_URL, LEDGER_URL and STATE_URL."""
    providers = config.providers.values()
    return [
        config.apikey,
        *(p.api_key for p in providers),
        *(secret for p in providers for secret in url_secrets(p.api_base_url)),
        *url_secrets(config.proxy_url),
        *_passwords(config.ledger.url if config.ledger is not None else None),
        *_passwords(config.state.url if config.state is not None else None),
    ]


def _passwords(url: str | None) -> list[str]:
    """A database URL's password (raw and as written), not its user name: "postgres" or "ccr" alone is no secret,
    and redacting it would blur every log line that names it."""
    parts = urlsplit(url or "")
    if not parts.password:
        return []
    written = parts.netloc.rpartition("@")[0].partition(":")[2]
    return [parts.password, unquote(parts.password), written]
