"""Who holds a TCP port: best effort, from /proc (Linux), for messages such as "port 3456 is in use by pid 1234
(node .../cli.js)".

The kernel lists listening sockets with their inode in /proc/net/tcp and /proc/net/tcp6; a process holds the
socket when one of its /proc/PID/fd links reads `socket:[INODE]`. Processes of other users cannot be looked into
(without root), so then only the user owning the socket is known. Elsewhere (no /proc) nothing is known and the
callers say less. Only the standard library is imported here.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

_LISTEN = "0A"
_PROC = Path("/proc")
_MAX_COMMAND = 120


@dataclass(frozen=True)
class PortHolder:
    port: int
    pid: int | None = None
    command: str | None = None  # the command line, shortened
    uid: int | None = None  # the socket's owner, from the kernel's socket table

    def describe(self) -> str:
        """e.g. "pid 1234 (node /usr/lib/node_modules/.../cli.js start)"; "a process of user bob" when only the
        owner is known."""
        if self.pid is not None:
            return f"pid {self.pid} ({self.command})" if self.command else f"pid {self.pid}"
        if self.uid is not None and self.uid != os.getuid():
            return f"a process of user {_user_name(self.uid)}"
        return "another program"


def listening_inodes(port: int, proc: Path = _PROC) -> dict[int, int]:
    """The inodes of the sockets listening on TCP `port` (any address, IPv4 or IPv6): inode -> owner uid."""
    found: dict[int, int] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            _, _, hex_port = fields[1].rpartition(":")
            try:
                if int(hex_port, 16) == port:
                    found[int(fields[9])] = int(fields[7])
            except ValueError:
                continue
    return found


def port_holder(port: int, proc: Path = _PROC) -> PortHolder | None:
    """Who listens on `port`; None when nobody does, or when this system cannot tell."""
    inodes = listening_inodes(port, proc)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in _pids(proc):
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        return PortHolder(port, int(entry.name), _command(entry), next(iter(inodes.values())))
    return PortHolder(port, uid=next(iter(inodes.values())))


def _pids(proc: Path) -> list[Path]:
    try:
        entries = [entry for entry in proc.iterdir() if entry.name.isdigit()]
    except OSError:
        return []
    own = str(os.getpid())
    return sorted((e for e in entries if e.name != own), key=lambda e: int(e.name))


def _command(entry: Path) -> str | None:
    try:
        raw = (entry / "cmdline").read_bytes()
    except OSError:
        return None
    parts = [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]
    if not parts:
        with contextlib.suppress(OSError):
            return (entry / "comm").read_text().strip() or None
        return None
    command = " ".join(parts)
    return command if len(command) <= _MAX_COMMAND else command[: _MAX_COMMAND - 3] + "..."


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"
