"""`GET /api/ui/config`: the config's editable sections as written, and never one of its secrets.

The page edits what the file says, so values are shown as written (JSON5 parsed, `$VAR` not expanded) with the
sha256 of the file's bytes as the version a save must name. A provider's key is shown only as its kind (none, a
`$VARIABLE`, or written into the file): a written key, the APIKEY and the credentials in a URL never leave the
process, here or in the save's diff (`Secrets` masks them). The names the page offers (routes, transformers,
provider templates) come from their one source: `config/scenarios.py`, `config/transformers.py` and `ccr init`'s
starter catalogue.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccrouter.config.loading import read_config_text, read_json5_object
from ccrouter.config.scenarios import ROUTE_SCENARIOS
from ccrouter.config.starter import CATALOGUE
from ccrouter.config.transformers import TRANSFORMERS
from ccrouter.errors import ConfigError, GatewayError

SECTIONS = ("Router", "fallback", "Prices", "Budgets", "StatusLine")  # shown as written, beside the providers
EDITABLE = ("Providers", *SECTIONS)  # the top-level keys a change may start with
MASK = "***"
SECRET_KEYS = frozenset({"api_key", "apikey"})  # member names (any case, - or _) whose written values are secrets
MIN_SECRET_CHARS = 4  # shorter secrets are hidden where they stand, but not searched for in other text

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))\Z")
URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s/?#@'\"\\]+)@")


@dataclass(frozen=True)
class Document:
    """The config file as read: its text, its version (sha256 of its bytes) and what it holds, as written."""

    text: str
    version: str
    data: dict[str, Any]


def config_view(path: Path) -> dict[str, Any]:
    """The JSON of `GET /api/ui/config` (see the dashboard's spec) for the config file at `path`."""
    document = read_document(path)
    data = document.data
    view: dict[str, Any] = {
        "version": document.version,
        "path": str(path),
        "providers": [_provider(item) for item in providers_of(data)],
        **{name: data.get(name, {} if name == "Router" else None) for name in SECTIONS},
        "route_names": [str(scenario) for scenario in ROUTE_SCENARIOS],
        "transformer_names": sorted(TRANSFORMERS),
        "templates": templates(),
    }
    scrubbed: dict[str, Any] = Secrets.of([data]).scrub(view)
    return scrubbed


def read_document(path: Path) -> Document:
    """The config file, read as the loader reads it (a regular file, bounded, UTF-8) and parsed as written.
    A file that cannot be read or parsed is an error whose message says how to fix it by hand."""
    try:
        text = read_config_text(path)
        data = read_json5_object(text, str(path))
    except ConfigError as exc:
        message = Secrets.of([]).mask(str(exc))
        raise GatewayError(
            500,
            f"{message} The dashboard edits only a config it can read; `ccr config check` shows the problem.",
            "api_error",
        ) from None
    return Document(text, version_of(text), data)


def version_of(text: str) -> str:
    """The sha256 (hex) of the file's bytes: its text was decoded from UTF-8, so encoding gives them back."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def providers_of(data: dict[str, Any]) -> list[Any]:
    """The Providers list as the loader reads it (`providers` in older configs), [] when missing or not a list."""
    items = data.get("Providers" if "Providers" in data else "providers")
    return items if isinstance(items, list) else []


def key_kind(value: Any) -> dict[str, Any]:
    """A provider's api_key as the page may see it: none, a `$VARIABLE` (named), or written (never shown)."""
    if value is None or value == "":
        return {"kind": "none", "variable": None}
    match = _VARIABLE.match(value.strip()) if isinstance(value, str) else None
    if match:
        return {"kind": "variable", "variable": match.group(1) or match.group(2)}
    return {"kind": "written", "variable": None}


def is_secret_key(name: str) -> bool:
    return name.casefold().replace("-", "_") in SECRET_KEYS


def templates() -> list[dict[str, Any]]:
    """A provider entry per provider `ccr init` knows, keyed by its `$VARIABLE`: the page's "add a provider"."""
    return [
        {
            "name": entry.name,
            "title": entry.title,
            "api_base_url": entry.url,
            "api_key": f"${entry.env}" if entry.env else None,
            "models": list(entry.models),
            "transformer": {"use": [entry.transformer]} if entry.transformer else None,
        }
        for entry in CATALOGUE
    ]


def _provider(item: Any) -> dict[str, Any]:
    entry = item if isinstance(item, dict) else {}
    return {
        "name": entry.get("name"),
        "api_base_url": entry.get("api_base_url"),
        "api_key": key_kind(entry.get("api_key")),
        "models": entry.get("models"),
        "transformer": entry.get("transformer"),
    }


@dataclass
class Secrets:
    """The secret strings of one or more config documents: every written value of an `api_key`/`APIKEY` member
    (any depth, any case). `mask` hides them and the credentials in URLs in a text; `scrub` in a JSON value."""

    values: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, documents: Iterable[Any]) -> Secrets:
        found = cls()
        for document in documents:
            found.values.update(_written_keys(document))
        return found

    def ordered(self) -> list[str]:
        """The secrets long enough to search for, longest first (a key that contains another is masked whole)."""
        return sorted((v for v in self.values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self.ordered():
            text = text.replace(secret, MASK)
        return URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{MASK}@", text)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        if isinstance(value, dict):
            return {self.mask(str(k)): MASK if _is_written(k, v) else self.scrub(v) for k, v in value.items()}
        return value


def _is_written(key: Any, value: Any) -> bool:
    """Whether this member holds a secret written out (a string that is not a `$VARIABLE`)."""
    return is_secret_key(str(key)) and isinstance(value, str) and key_kind(value)["kind"] == "written"


def _written_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if _is_written(key, item):
                yield item
            else:
                yield from _written_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _written_keys(item)
