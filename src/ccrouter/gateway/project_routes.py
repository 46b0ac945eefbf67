"""Per-project and per-session routes, as the Node CCR 1.x has them.

`$CCR_HOME/<project>/config.json` and `$CCR_HOME/<project>/<session-id>.json` may hold a `Router` that overrides the
main config's, key by key (the session's over the project's over the main one's). `<project>` is the folder name
Claude Code gives the project under `~/.claude/projects/`: its working directory with every character other than
a letter or digit turned into "-" (`/home/ana/my.app` -> `-home-ana-my-app`); the working directory is the one
Claude Code names in the request (`MessagesRequest.project`).

The files are checked like the main config: a file that does not load is logged (once per version of it) and
left out, and a change applies within REFRESH_S. The cost when no project has a file is one look at a cached
folder list per request.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ccrouter.config.loading import read_json5_object
from ccrouter.config.model import Config
from ccrouter.config.router_section import with_router_override
from ccrouter.errors import ConfigError
from ccrouter.files import FileTooLarge, read_regular_file
from ccrouter.gateway.logs import Logger
from ccrouter.gateway.request import MessagesRequest
from ccrouter.paths import CONFIG_FILE
from ccrouter.recent import Recent

REFRESH_S = 0.5
MAX_FILE_BYTES = 1024 * 1024
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")

Stamp = tuple[int, int, int] | None  # inode, size, mtime in ns; None when the file is missing


def project_folder(working_directory: str) -> str:
    """The name Claude Code gives a project's folder: every character but letters and digits becomes "-"."""
    return _NOT_ALNUM.sub("-", working_directory)


class ProjectRoutes:
    def __init__(self, log: Logger, clock: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self._clock = clock
        self._config: Config | None = None  # the config `_home` was read from
        self._home = Path()
        self._folders: frozenset[str] = frozenset()
        self._listed_at = float("-inf")
        self._stamps: dict[Path, tuple[float, Stamp]] = {}  # path -> (when looked at, its stamp then)
        self._derived: Recent[tuple[int, Stamp, Stamp, Config]] = Recent(256)
        self._reported: set[tuple[Path, Stamp]] = set()

    def config_for(self, config: Config, request: MessagesRequest) -> Config:
        """`config` with the request's project and session routes applied (itself when there are none)."""
        if config is not self._config:  # a reload: look at the (maybe new) home at once
            self._config, self._home, self._listed_at = config, config.home, float("-inf")
        if not self._has_folders() or request.project is None:
            return config
        home = self._home
        folder = project_folder(request.project)
        if folder not in self._folders:
            return config
        project_file = home / folder / CONFIG_FILE
        session_file = home / folder / f"{request.session_id}.json" if request.session_id else None
        stamps = (self._stamp(project_file), self._stamp(session_file) if session_file else None)
        key = f"{folder}|{request.session_id}"
        cached = self._derived.get(key)
        if cached is not None and cached[0] == id(config) and cached[1:3] == stamps:
            return cached[3]
        derived = config
        for path, stamp in ((project_file, stamps[0]), (session_file, stamps[1])):
            if path is not None and stamp is not None:
                derived = self._apply(derived, path, stamp)
        self._derived.put(key, (id(config), *stamps, derived))
        return derived

    def _apply(self, config: Config, path: Path, stamp: Stamp) -> Config:
        try:
            data = _read_object(path)
            router = data.get("Router")
            if router is None:
                return config
            if not isinstance(router, dict):
                raise ConfigError("Router must be an object of routes.")
            return with_router_override(config, router, f"Router (in {path})")
        except ConfigError as exc:
            if (path, stamp) not in self._reported:
                self._reported.add((path, stamp))
                self.log.error(
                    "project routes not applied; the main config's routes serve", file=str(path), error=str(exc)
                )
            return config

    def _has_folders(self) -> bool:
        now = self._clock()
        if now - self._listed_at >= REFRESH_S:
            self._listed_at = now
            try:
                with os.scandir(self._home) as entries:
                    self._folders = frozenset(e.name for e in entries if e.name.startswith("-") and e.is_dir())
            except OSError:
                self._folders = frozenset()
        return bool(self._folders)

    def _stamp(self, path: Path) -> Stamp:
        now = self._clock()
        seen = self._stamps.get(path)
        if seen is not None and now - seen[0] < REFRESH_S:
            return seen[1]
        try:
            info = os.stat(path)
            stamp: Stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        except OSError:
            stamp = None
        if len(self._stamps) > 4096:
            self._stamps.clear()
        self._stamps[path] = (now, stamp)
        return stamp


def _read_object(path: Path) -> dict[str, Any]:
    try:
        raw = read_regular_file(path, MAX_FILE_BYTES)  # a FIFO there would block the service, /dev/zero never end
    except FileTooLarge:
        raise ConfigError(f"{path} is over {MAX_FILE_BYTES // 1024} KB; a Router needs a few lines.") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror or exc}).") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save it as UTF-8.") from None
    return read_json5_object(text, str(path))
