"""Files on disk: writing one so that readers see the old content or the new, never half of it; reading one whose
name anyone could have pointed at something else; and the private modes of the files that hold conversations.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import IO

PRIVATE_DIR_MODE = 0o700  # the log folder: at debug level its files hold whole conversations
PRIVATE_FILE_MODE = 0o600
_READ_CHUNK = 1024 * 1024


class NotARegularFile(OSError):
    """The path names a FIFO, a device, a directory or a socket: reading it could block forever or never end."""

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        super().__init__(f"{os.fspath(path)} is {kind}, not a regular file")
        self.kind = kind


class FileTooLarge(OSError):
    """The file holds more bytes than the reader takes."""

    def __init__(self, path: str | os.PathLike[str], limit: int) -> None:
        super().__init__(f"{os.fspath(path)} holds more than {limit:,} bytes")
        self.limit = limit


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed), at most `limit` of them.

    Raises NotARegularFile for anything else, without blocking on a FIFO (the open does not wait for a writer), and
    FileTooLarge past `limit` bytes (a config linked to /dev/zero, or a log pasted in by mistake). Other OSErrors
    (missing, no permission) pass through."""
    kind = _kind_of(os.stat(path).st_mode)  # before opening: opening a socket fails, a FIFO would wait
    if kind is not None:
        raise NotARegularFile(path, kind)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        kind = _kind_of(os.fstat(fd).st_mode)  # what was opened, if the name was swapped after the stat
        if kind is not None:
            raise NotARegularFile(path, kind)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(_READ_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise FileTooLarge(path, limit)
    return b"".join(chunks)


def _kind_of(mode: int) -> str | None:
    """None for a regular file, else what the file is, in words."""
    if stat.S_ISREG(mode):
        return None
    kinds = {
        stat.S_ISFIFO: "a FIFO (named pipe)",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISDIR: "a directory",
        stat.S_ISSOCK: "a socket",
    }
    return next((words for test, words in kinds.items() if test(mode)), "not a regular file")


def private_directory(path: Path) -> None:
    """Create `path` (and its parents) if needed, and make it readable by its owner only; one made earlier with the
    umask's mode (0755) is tightened. Not allowed to (another user's folder): left as it is."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    with contextlib.suppress(OSError):
        if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR_MODE:
            os.chmod(path, PRIVATE_DIR_MODE)


def open_private_append(path: Path) -> IO[bytes]:
    """`path` opened for appending (created if missing), readable and writable by its owner only; an existing
    file with a wider mode is tightened."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    try:
        tighten(fd)
        return os.fdopen(fd, "ab")
    except BaseException:
        os.close(fd)
        raise


def tighten(file: int | Path) -> None:
    """Make a file (an open descriptor, or a path) private to its owner, if it is not yet and that is allowed."""
    with contextlib.suppress(OSError):
        if stat.S_IMODE(os.stat(file).st_mode) != PRIVATE_FILE_MODE:
            os.chmod(file, PRIVATE_FILE_MODE)


def write_atomically(path: Path, data: bytes, *, mode: int | None = None, durable: bool = True) -> None:
    """Write `data` to a temporary file beside `path`, then `os.replace` it over `path`.

    The new file keeps the old one's permission bits (or gets `mode`, or 0600 when there was no file). With
    `durable`, the data is flushed to disk before the swap (for files a user would miss, such as the config).
    """
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            mode = 0o600
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def create_exclusively(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create `path` holding `data`, complete or not at all; FileExistsError when the name is taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        raise FileExistsError(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        try:
            os.link(tmp, path)  # atomic, and fails instead of replacing an existing file
        except FileExistsError:
            raise
        except OSError:  # a filesystem without hard links: exclusive create instead
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(out, "wb") as handle:
                handle.write(data)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
