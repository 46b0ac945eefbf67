"""The dashboard's pages, scripts and styles, shipped in the package (`dashboard/static/`) and served from memory.

They are read on the first request for one, not at start-up (a service nobody opens the dashboard of never reads
them). Only the files found there are served: a name is looked up, never joined onto a path.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".LICENSE": "text/plain; charset=utf-8",
}
MAX_FILES = 200  # a package holds a few dozen; anything past this is not ours


class StaticFiles:
    """name ("app.js", "vendor/uPlot.min.css") -> (bytes, content type)."""

    def __init__(self, package: str = "ccrouter.dashboard", folder: str = "static") -> None:
        self._package, self._folder = package, folder
        self._files: dict[str, tuple[bytes, str]] | None = None

    def get(self, name: str) -> tuple[bytes, str] | None:
        if self._files is None:
            self._files = _read_all(resources.files(self._package) / self._folder)
        return self._files.get(name)


def _read_all(root: Traversable) -> dict[str, tuple[bytes, str]]:
    files: dict[str, tuple[bytes, str]] = {}
    pending: list[tuple[str, Traversable]] = [("", root)] if root.is_dir() else []
    while pending and len(files) < MAX_FILES:
        prefix, folder = pending.pop()
        for entry in folder.iterdir():
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                pending.append((f"{prefix}{entry.name}/", entry))
                continue
            suffix = entry.name[entry.name.rfind(".") :] if "." in entry.name else ""
            content_type = CONTENT_TYPES.get(suffix)
            if content_type is not None:
                files[prefix + entry.name] = (entry.read_bytes(), content_type)
    return files
