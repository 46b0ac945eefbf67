"""The user's Python router (`CUSTOM_ROUTER_PATH`): `router(request, config)`, sync or async.

It returns `"provider,model"` to choose a target or `None` to let the configured rules decide. Whatever goes
wrong inside it is logged and routing falls through to the rules: a bug in a user's router never fails a request.
That covers any exception it raises (SystemExit, KeyboardInterrupt and a CancelledError of its own included: only
the cancellation of the request itself goes on), any answer that misbehaves (an object whose `==` or `repr`
raises, a `str` subclass with odd methods: only an exact `str` copy of its answer leaves this module), and a router
that takes too long: each call has `CUSTOM_ROUTER_TIMEOUT_MS`, past which the request goes on without it.

A sync router runs in a thread of its own (`off_loop`), so while it works, other requests and `/health` are
served; several calls may run at once. A thread cannot be stopped, so one that overruns runs on and its answer is
dropped; at most `MAX_ROUTER_THREADS` run at a time, and past that the rules decide at once. An async router runs
on the event loop and is cancelled at the limit (one that blocks without awaiting still blocks the loop).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ccrouter.errors import ConfigError, UserCodeError
from ccrouter.gateway.logs import Logger
from ccrouter.gateway.off_loop import DaemonPool, Outcome, guarded_task, outcome_by
from ccrouter.user_code import binds_name, load_user_module, read_user_source

RouterFunction = Callable[[dict[str, Any], Mapping[str, Any]], Any]

MAX_ROUTER_THREADS = 32  # sync router calls running at once (each overrunning one keeps its thread)
_router_threads = threading.BoundedSemaphore(MAX_ROUTER_THREADS)
_pool = DaemonPool("ccr-custom-router")

_NO_ROUTER = (
    "CUSTOM_ROUTER_PATH: {path} must define `def router(request, config)` "
    '(sync or async) returning "provider,model" or None.'
)


@dataclass(frozen=True)
class CustomRouter:
    """A loaded router and how long one call of it may take."""

    function: RouterFunction
    path: str
    timeout_ms: int
    is_async: bool  # `async def router`: calling it only makes a coroutine, so the call itself needs no thread


class _Overran(Exception):
    """The router did not answer within its time limit."""


class _Busy(Exception):
    """Every thread a sync router may use is still taken by calls that overran."""


def load_custom_router(path: str, timeout_ms: int) -> CustomRouter:
    """Run the router's file (the service does, at start and on reload) and take its `router`."""
    try:
        module = load_user_module(path)
    except UserCodeError as exc:
        raise ConfigError(f"CUSTOM_ROUTER_PATH: {exc}") from None
    function = getattr(module, "router", None)
    if not callable(function):
        raise ConfigError(_NO_ROUTER.format(path=path))
    return CustomRouter(function, path, timeout_ms, inspect.iscoroutinefunction(function))


def check_custom_router_file(path: str) -> None:
    """What can be checked without running the file (for `ccr config check`): it is readable Python and its top
    level defines `router`."""
    try:
        tree = read_user_source(path)
    except UserCodeError as exc:
        raise ConfigError(f"CUSTOM_ROUTER_PATH: {exc}") from None
    if not binds_name(tree, "router"):
        raise ConfigError(_NO_ROUTER.format(path=path))


async def ask_custom_router(
    router: CustomRouter, body: dict[str, Any], config: Mapping[str, Any], log: Logger, request_id: str
) -> str | None:
    try:
        return _choice(await _answer(router, body, config), log, request_id)
    except _Overran:
        log.warn(
            "custom router did not answer within its time limit; using the configured rules",
            request_id=request_id,
            limit_ms=router.timeout_ms,
            fix="make the router faster, or raise CUSTOM_ROUTER_TIMEOUT_MS in the config",
        )
    except _Busy:
        log.warn(
            "custom router is still running for earlier requests past their time limit; using the configured rules",
            request_id=request_id,
            running=MAX_ROUTER_THREADS,
            fix="make the router return (a sync router cannot be stopped once it runs), then restart the service",
        )
    except BaseException as exc:  # the user's code may raise anything, even what ends a program
        if isinstance(exc, asyncio.CancelledError) and _request_cancelled():
            raise  # the client went away (or the service stops): not the router's doing
        log.warn("custom router failed; using the configured rules", request_id=request_id, error=_short(exc))
    return None


async def _answer(router: CustomRouter, body: dict[str, Any], config: Mapping[str, Any]) -> Any:
    """The router's answer (awaited, if it is awaitable) within its time limit; raises what the router raised."""
    deadline = asyncio.get_running_loop().time() + router.timeout_ms / 1000
    if router.is_async:
        answer = router.function(body, config)
    else:
        answer = (await _by(deadline, _in_thread(router.function, body, config))).result()
    if inspect.isawaitable(answer):
        answer = (await _by(deadline, guarded_task(answer))).result()
    return answer


def _in_thread(function: RouterFunction, body: dict[str, Any], config: Mapping[str, Any]) -> asyncio.Future[Outcome]:
    if not _router_threads.acquire(blocking=False):
        raise _Busy

    def call() -> Any:
        try:
            return function(body, config)
        finally:
            _router_threads.release()

    try:
        return _pool.submit(call)
    except BaseException:  # no thread started (the system has none to give): its slot is free again
        _router_threads.release()
        raise


async def _by(deadline: float, future: asyncio.Future[Outcome]) -> Outcome:
    outcome = await outcome_by(deadline, future)
    if outcome is None:
        raise _Overran
    return outcome


def _choice(answer: Any, log: Logger, request_id: str) -> str | None:
    """`"provider,model"` as an exact `str`, or None (the rules decide)."""
    if answer is None:
        return None
    if isinstance(answer, str):
        choice = str.__str__(answer)  # an exact str: a subclass's own methods never run again
        if "," in choice:
            return choice
        answer = choice
    _note_unusable(answer, log, request_id)
    return None


def _note_unusable(answer: object, log: Logger, request_id: str) -> None:
    """Not a choice: an empty string means none (quietly); anything else is logged."""
    if isinstance(answer, str) and not answer:
        return
    log.warn(
        'custom router returned something other than "provider,model" or None; using the configured rules',
        request_id=request_id,
        returned=_safe_repr(answer),
    )


def _request_cancelled() -> bool:
    """Whether the task running the request is being cancelled (rather than the router raising CancelledError)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _safe_repr(value: object) -> str:
    try:
        return repr(value)[:200]
    except Exception:
        return f"<a {type(value).__name__} that cannot be shown>"


def _short(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"[:500]
    except Exception:
        return type(exc).__name__
