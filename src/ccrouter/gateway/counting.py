"""Token estimates of large bodies off the event loop, a bounded number at a time.

Counting is the one CPU-heavy step of a request whose cost grows with its body (~10 MB of text a second), and
tiktoken encodes a large text with the GIL released (`tokens._tokens_in`), so in a worker thread it leaves the
event loop free: with it on the loop, one 60 MB body held `/health` for 10 s. Parsing is not moved: orjson holds
the GIL for the whole parse, so a thread would stall the loop just as long and add a hop (measured: a 0.54 s
parse in a thread left the loop without the GIL for 0.43 s at a stretch).

Small bodies are counted on the loop as before: a thread hop costs ~30-40 µs, more than counting a typical
request whose blocks are mostly cached.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ccrouter.tokens import SessionCounts, estimate_tokens

# Bodies up to this size are counted on the event loop. Counting one whose text is all new blocks the loop for
# ~25 ms at this size, and a Claude Code turn of a long session (~200 KB, the benchmark's `large`) stays below.
OFF_LOOP_BODY_BYTES = 256 * 1024
# Large bodies counted at once; the rest wait their turn without blocking the loop. One keeps a core free for
# the loop and for small requests on a 2-core machine; each count is bounded (`tokens.EXACT_CHARS`, ~0.5 s).
COUNTING_THREADS = 1

_pool: ThreadPoolExecutor | None = None


def _counting_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:  # only ever created on the event loop's thread
        _pool = ThreadPoolExecutor(COUNTING_THREADS, thread_name_prefix="ccr-count")
    return _pool


async def estimate_body(body: dict[str, Any], body_bytes: int, session: SessionCounts | None = None) -> int:
    """`tokens.estimate_tokens(body, session)` for a body of `body_bytes` bytes: on the loop when it is small,
    else in the counting thread."""
    if body_bytes <= OFF_LOOP_BODY_BYTES:
        return estimate_tokens(body, session)
    return await asyncio.get_running_loop().run_in_executor(_counting_pool(), estimate_tokens, body, session)
