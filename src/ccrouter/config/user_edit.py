"""`ccr user add NAME` / `ccr user remove NAME`: change the config's `Users` list, safely.

As `ccr model` changes a route (`route_edit.py`): the whole edited config must load before anything is written;
the old file is backed up (`config.json.<time>.bak`); the edit is the minimal JSON5 text change (`json5_paths`:
one entry appended to, or removed from, `Users`; comments and formatting stay), written atomically, read back and
loaded, and the old bytes put back when that fails. A running service hot-reloads the file.

A new user's key is `ccr_` + 32 random bytes (URL-safe base64); only its SHA-256 is written, so the key is shown
once, by `add`, and cannot be read back: a lost key is replaced by removing and adding the user again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccrouter.config.json5_edit import EditError
from ccrouter.config.json5_paths import append_value, delete_value, loads
from ccrouter.config.loading import MAX_CONFIG_BYTES, parse_config
from ccrouter.config.route_edit import LenientEnviron, RouteError, backup_config, prune_backups
from ccrouter.config.users_section import USER_ROUTES, key_digest
from ccrouter.errors import ConfigError
from ccrouter.files import FileTooLarge, NotARegularFile, read_regular_file, write_atomically

KEY_PREFIX = "ccr_"


@dataclass(frozen=True)
class UserChange:
    path: Path
    name: str
    backup: Path
    key: str | None = None  # the new key (add only): shown once, never stored


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def add_user(
    path: Path,
    name: str,
    environ: Mapping[str, str],
    *,
    routes: list[str] | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
) -> UserChange:
    """Append a user with a new key to `Users`; raises RouteError (exit 2) when the config would not load with it
    (a bad name, a name taken, no APIKEY...), saying why."""
    raw, text = _read(path)
    if any(entry.get("name") == name for entry in _users(text, path)):
        raise RouteError(f"There is already a user {name!r} in {path}. Remove it first (`ccr user remove {name}`).")
    key = new_key()
    entry: dict[str, Any] = {"name": name, "key_sha256": key_digest(key)}
    if routes is not None:
        entry["routes"] = [_route_name(route) for route in routes]
    limits = {"requests_per_minute": rpm, "tokens_per_minute": tpm}
    if any(value is not None for value in limits.values()):
        entry["rate_limit"] = {limit: value for limit, value in limits.items() if value is not None}
    backup = _write(path, raw, text, lambda old: append_value(old, ("Users",), entry), environ)
    return UserChange(path, name, backup, key)


def remove_user(path: Path, name: str, environ: Mapping[str, str]) -> UserChange:
    """Remove the user `name` from `Users` (their key stops working once the service has reloaded)."""
    raw, text = _read(path)
    users = _users(text, path)
    index = next((i for i, entry in enumerate(users) if entry.get("name") == name), None)
    if index is None:
        names = ", ".join(str(entry.get("name")) for entry in users) or "none"
        raise RouteError(f"There is no user {name!r} in {path} (users: {names}).")
    backup = _write(path, raw, text, lambda old: delete_value(old, ("Users", index)), environ)
    return UserChange(path, name, backup)


def _route_name(route: str) -> str:
    """A route as `Users[].routes` spells it, whatever the case; RouteError for anything else."""
    known = {name.casefold(): str(name) for name in USER_ROUTES}
    found = known.get(route.strip().casefold())
    if found is None:
        raise RouteError(f"{route!r} is not a route a user can be given; use some of {', '.join(USER_ROUTES)}.")
    return found


def _read(path: Path) -> tuple[bytes, str]:
    try:
        raw = read_regular_file(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise RouteError(f"No config file at {path}. Create one with `ccr init`.") from None
    except (NotARegularFile, FileTooLarge):
        raise RouteError(f"{path} is not a plain config file of at most {MAX_CONFIG_BYTES:,} bytes.") from None
    except OSError as exc:
        raise RouteError(f"Cannot read {path}: {exc.strerror or exc}.", 1) from None
    try:
        return raw, raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RouteError(f"{path} is not UTF-8 text.") from None


def _users(text: str, path: Path) -> list[dict[str, Any]]:
    try:
        data = loads(text)
    except EditError as exc:
        raise RouteError(f"{path}: {exc}. Fix the syntax first.") from None
    users = data.get("Users") if isinstance(data, dict) else None
    if users is None:
        return []
    if not isinstance(users, list):
        raise RouteError(f"Users in {path} is not a list; fix it by hand first.")
    return [entry for entry in users if isinstance(entry, dict)]


def _write(path: Path, raw: bytes, text: str, edit: Callable[[str], str], environ: Mapping[str, str]) -> Path:
    """Apply `edit` (text -> text), check the result loads, back up, write, read back; the backup's path."""
    try:
        new_text = edit(text)
    except EditError as exc:
        raise RouteError(f"{path} could not be edited in place ({exc}); nothing was written.") from None
    lenient = LenientEnviron(environ)
    try:
        parse_config(new_text, lenient, path, run_user_code=False)
    except ConfigError as exc:
        raise RouteError(f"{path} not changed: the config would not load: {exc}") from None
    if path.read_bytes() != raw:
        raise RouteError(f"{path} changed while ccr was editing it; nothing was written. Run the command again.", 1)
    backup = backup_config(path, raw)
    try:
        write_atomically(path, new_text.encode("utf-8"))
    except OSError as exc:
        raise RouteError(f"cannot write {path}: {exc.strerror or exc}; the file is unchanged.", 1) from None
    try:
        parse_config(path.read_text(encoding="utf-8"), lenient, path, run_user_code=False)
    except (OSError, ValueError, ConfigError) as exc:
        write_atomically(path, raw)
        raise RouteError(f"{path} did not read back as intended ({exc}); the previous file was restored.", 1) from None
    prune_backups(path)
    return backup
