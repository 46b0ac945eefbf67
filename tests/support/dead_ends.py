"""Loopback ports that a TCP connect fails on, in each of the ways a provider's host can fail: refused (a port that
is bound but not listening, so no other process can take it while the test runs) and hanging (a listener whose
accept queue is full, so the kernel drops a new connection's SYN and the connect waits until its time-out)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port where a connect is refused at once."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


@contextlib.contextmanager
def hanging_port() -> Iterator[int]:
    """A loopback port where a connect neither succeeds nor fails: it times out."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        for _ in range(16):  # fill the accept queue (its size differs between kernels) until a connect hangs
            client = stack.enter_context(socket.socket())
            client.settimeout(0.3)
            try:
                client.connect(("127.0.0.1", port))
            except TimeoutError:
                yield port
                return
        raise RuntimeError("the listener's accept queue never filled: no hanging port on this machine")
