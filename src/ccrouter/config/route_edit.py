"""`ccr model ROUTE provider,model`: change one route in the config file, safely.

The target is checked against the config's providers and models, and the whole edited config must load, before
anything is written. The old file is copied to `config.json.<YYYYmmdd-HHMMSS>.bak` first; the edit is a minimal
textual change of the one `Router` value (comments and formatting stay), written to a temporary file in the same
directory and swapped in with `os.replace`, so the file is never half-written. The result is read back and
loaded; if that fails the old bytes are put back. A running service sees the new file and hot-reloads it.
Anything that stops the change raises `RouteError`. Every load here reads the transformer plugin files without
running them: changing a route never runs the user's Python.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import json5

from ccrouter.config import json5_edit
from ccrouter.config.loading import MAX_CONFIG_BYTES, load_config, parse_config, read_json5_object
from ccrouter.config.model import Config
from ccrouter.config.scenarios import ROUTE_SCENARIOS, Scenario
from ccrouter.errors import CcrouterError, ConfigError
from ccrouter.files import FileTooLarge, NotARegularFile, create_exclusively, read_regular_file, write_atomically
from ccrouter.paths import BACKUP_SUFFIX

KEEP_BACKUPS = 5


class RouteError(CcrouterError):
    """The route was not changed; the message says why. `exit_code` is 2 for a request that cannot be carried out
    (pass 1 for a failed read or write)."""

    exit_code = 2


@dataclass
class RouteChange:
    path: Path
    route: str
    old: str | None
    new: str
    backup: Path | None = None  # None when nothing changed
    comments_lost: bool = False  # the file had to be re-serialised as plain JSON
    unset_variables: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.backup is not None


class LenientEnviron(Mapping[str, str]):
    """The environment, with unset (or empty) variables read as written, `$NAME` (and noted): changing a route
    must not need the provider keys exported in this shell, only in the service's."""

    def __init__(self, base: Mapping[str, str]) -> None:
        self._base = base
        self.missing: set[str] = set()

    def __getitem__(self, name: str) -> str:
        if self._base.get(name):
            return self._base[name]
        self.missing.add(name)
        return f"${name}"

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)


def route_key(name: str) -> Scenario:
    """The route a name given in any case, with `_` or `-`, stands for (long_context -> longContext)."""
    folded = name.replace("_", "").replace("-", "").casefold()
    for scenario in ROUTE_SCENARIOS:
        if scenario.casefold() == folded:
            return scenario
    raise RouteError(f"{name!r} is not a route; use one of {', '.join(ROUTE_SCENARIOS)}.")


def load_lenient(path: Path, environ: Mapping[str, str]) -> tuple[Config, list[str]]:
    """The config at `path`, reading unset `$VARS` as empty; also returns the names of those variables."""
    lenient = LenientEnviron(environ)
    config = load_config(path, lenient, run_user_code=False)
    return config, sorted(lenient.missing)


def set_route(path: Path, route: str, target: str, environ: Mapping[str, str]) -> RouteChange:
    key = route_key(route)
    raw = _read(path)
    text = _decode(raw, path)
    try:
        data = read_json5_object(text, str(path))
    except ConfigError as exc:
        raise RouteError(str(exc)) from None
    lenient = LenientEnviron(environ)
    try:
        current: Config | None = parse_config(text, lenient, path, run_user_code=False)
    except ConfigError:
        current = None  # maybe exactly what this change fixes; the edited config must load, checked below
    value = _canonical_target(target, current, key)
    router = data.get("Router")
    old = router.get(key) if isinstance(router, dict) else None
    change = RouteChange(path, key, old if isinstance(old, str) else None, value)
    if old == value:
        change.unset_variables = sorted(lenient.missing)
        return change

    expected = copy.deepcopy(data)
    expected["Router"] = dict(router) if isinstance(router, dict) else {}
    expected["Router"][key] = value
    new_text = _edited(text, key, value, expected, isinstance(router, dict) and key in router)
    if new_text is None:
        new_text = json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
        change.comments_lost = json5_edit.has_comments(text)
    try:
        parse_config(new_text, lenient, path, run_user_code=False)
    except ConfigError as exc:
        raise RouteError(
            f"{path} not changed: with Router.{key} = {value!r} the config would not load: {exc}"
        ) from None

    if path.read_bytes() != raw:
        raise RouteError(f"{path} changed while ccr was editing it; nothing was written. Run the command again.", 1)
    change.backup = backup_config(path, raw)
    try:
        write_atomically(path, new_text.encode("utf-8"))
    except OSError as exc:
        raise RouteError(f"cannot write {path}: {exc.strerror or exc}; the file is unchanged.", 1) from None
    problem = _verify(path, lenient, expected)
    if problem:
        try:
            write_atomically(path, raw)
        except OSError as exc:
            raise RouteError(
                f"{path} did not read back as intended ({problem}), and restoring it failed ({exc}); "
                f"copy the backup {change.backup} over it.",
                1,
            ) from None
        raise RouteError(f"{path} did not read back as intended ({problem}); the previous file was restored.", 1)
    prune_backups(path)
    change.unset_variables = sorted(lenient.missing)
    return change


def _read(path: Path) -> bytes:
    try:
        return read_regular_file(path, MAX_CONFIG_BYTES)  # never a FIFO (it would hang) nor /dev/zero
    except NotARegularFile as exc:
        raise RouteError(
            f"{path} is {exc.kind}, not a regular file: ccr model edits only a plain config file."
        ) from None
    except FileTooLarge:
        raise RouteError(
            f"{path} is larger than {MAX_CONFIG_BYTES:,} bytes; check that it is your config file."
        ) from None
    except FileNotFoundError:
        raise RouteError(f"No config file at {path}. Create one with `ccr init`.") from None
    except OSError as exc:
        raise RouteError(f"Cannot read {path}: {exc.strerror or exc}.", 1) from None


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RouteError(f"{path} is not UTF-8 text.") from None


def _canonical_target(target: str, config: Config | None, key: str) -> str:
    """`provider,model` as the config spells them; a clear error for anything the config does not have."""
    provider_name, sep, model = target.partition(",")
    provider_name, model = provider_name.strip(), model.strip()
    if not sep or not provider_name or not model:
        raise RouteError(
            f'{target!r} is not "provider,model": give a provider name from Providers, a comma, then one of its '
            f"models, e.g. `ccr model {key} deepseek,deepseek-chat`."
        )
    if config is None:
        return f"{provider_name},{model}"
    provider = config.provider(provider_name)
    if provider is None:
        names = ", ".join(p.name for p in config.providers.values()) or "none are configured"
        raise RouteError(
            f"There is no provider {provider_name!r} in Providers ({names}). Add it to the config first, "
            "or pick one of those."
        )
    found = provider.find_model(model)
    if found is None:
        raise RouteError(
            f"Provider {provider.name!r} has no model {model!r} (its models: {', '.join(provider.models)}). "
            "Add it to that provider's models first, or pick one of those."
        )
    return f"{provider.name},{found}"


def _stale_placeholder(key: str) -> re.Pattern[str]:
    """The two comment lines `ccr init` writes for a route it could not fill (`starter.render`):
    `// Not set: <why>` and `// "<key>": "provider,model",`; stale once the route is set."""
    return re.compile(
        r"^([ \t]*)// Not set: [^\n]*\n[ \t]*// " + re.escape(json.dumps(key)) + r': "provider,model",[ \t]*(?:\n|\Z)',
        re.MULTILINE,
    )


def _edited(text: str, key: str, value: str, expected: dict[str, Any], present: bool) -> str | None:
    """The minimal textual edit, if it is possible and provably changes only Router[key]. A route that `ccr init`
    left commented out (`present` False) is set where its placeholder was; the placeholder goes in any case."""
    stale = _stale_placeholder(key)
    candidates: list[str] = []
    placeholder = stale.search(text)
    if placeholder is not None and not present:
        member = f"{placeholder.group(1)}{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n"
        candidates.append(text[: placeholder.start()] + member + text[placeholder.end() :])
    try:
        edited = json5_edit.set_string_member(text, ("Router",), key, value)
    except json5_edit.EditError:
        edited = None
    if edited is not None:
        candidates += [stale.sub("", edited, count=1), edited]
    for candidate in candidates:
        try:
            if json5.loads(candidate) == expected:
                return candidate
        except ValueError:
            continue
    return None


def _verify(path: Path, environ: Mapping[str, str], expected: dict[str, Any]) -> str | None:
    try:
        if json5.loads(path.read_text(encoding="utf-8")) != expected:
            return "its content differs from the intended edit"
        load_config(path, environ, run_user_code=False)
    except (OSError, ValueError, ConfigError) as exc:
        return str(exc)
    return None


def backup_config(path: Path, raw: bytes) -> Path:
    """Copy `raw` (the config's bytes as read) to `config.json.<YYYYmmdd-HHMMSS>.bak`, then `-2`, `-3`... within
    one second (always above the highest number there, so a pruned name is never reused for a newer backup), never
    overwriting anything; the file keeps the config's mode. Every writer of the config (`ccr model`, the dashboard)
    backs up here, and calls `prune_backups` once its write is verified. Raises RouteError when it cannot."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = 0o600
    taken = [counter for entry_stamp, counter, _ in _backup_entries(path) if entry_stamp == stamp]
    for attempt in range(max(taken, default=0) + 1, max(taken, default=0) + 1000):
        suffix = "" if attempt == 1 else f"-{attempt}"
        backup = path.with_name(f"{path.name}.{stamp}{suffix}{BACKUP_SUFFIX}")
        try:
            create_exclusively(backup, raw, mode=mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise RouteError(f"cannot write the backup {backup}: {exc.strerror or exc}; nothing changed.", 1) from None
        return backup
    raise RouteError(f"too many backups of {path} this second; nothing changed.", 1)


def backups(path: Path) -> list[Path]:
    """This config's timestamped backups, oldest first."""
    return [entry for _, _, entry in sorted(_backup_entries(path))]


def _backup_entries(path: Path) -> list[tuple[str, int, Path]]:
    pattern = re.compile(re.escape(path.name) + r"\.(\d{8}-\d{6})(?:-(\d+))?" + re.escape(BACKUP_SUFFIX) + r"\Z")
    found: list[tuple[str, int, Path]] = []
    with contextlib.suppress(OSError):
        for entry in path.parent.iterdir():
            match = pattern.match(entry.name)
            if match:
                found.append((match.group(1), int(match.group(2) or 1), entry))
    return found


def prune_backups(path: Path) -> None:
    """Keep the newest KEEP_BACKUPS timestamped backups (CCR keeps 3); other files are never touched."""
    for old in backups(path)[:-KEEP_BACKUPS]:
        with contextlib.suppress(OSError):
            old.unlink()
