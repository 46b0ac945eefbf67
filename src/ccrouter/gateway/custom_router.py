"""The user's Python router (`CUSTOM_ROUTER_PATH`): `router(request, config)`, sync or async.

It returns `"provider,model"` to choose a target or `None` to let the configured rules decide. Whatever goes
wrong inside it is logged and routing falls through to the rules: a bug in a user's router never fails a request.
That covers any exception it raises (SystemExit, KeyboardInterrupt and a CancelledError of its own included: only
the cancellation of the request itself goes on) and any answer that misbehaves (an object whose `==` or `repr`
raises, a `str` subclass with odd methods): only an exact `str` copy of its answer leaves this module.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from ccrouter.errors import ConfigError, UserCodeError
from ccrouter.gateway.logs import Logger
from ccrouter.user_code import load_user_module

RouterFunction = Callable[[dict[str, Any], Mapping[str, Any]], Any]


def load_custom_router(path: str) -> RouterFunction:
    try:
        module = load_user_module(path)
    except UserCodeError as exc:
        raise ConfigError(f"CUSTOM_ROUTER_PATH: {exc}") from None
    function = getattr(module, "router", None)
    if not callable(function):
        raise ConfigError(
            f"CUSTOM_ROUTER_PATH: {path} must define `def router(request, config)` "
            '(sync or async) returning "provider,model" or None.'
        )
    return function  # type: ignore[no-any-return]


async def ask_custom_router(
    function: RouterFunction, body: dict[str, Any], config: Mapping[str, Any], log: Logger, request_id: str
) -> str | None:
    try:
        answer = function(body, config)
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is None:
            return None
        if isinstance(answer, str):
            choice = str.__str__(answer)  # an exact str: a subclass's own methods never run again
            if "," in choice:
                return choice
            answer = choice
        _note_unusable(answer, log, request_id)
        return None
    except BaseException as exc:  # the user's code may raise anything, even what ends a program
        if isinstance(exc, asyncio.CancelledError) and _request_cancelled():
            raise  # the client went away (or the service stops): not the router's doing
        log.warn("custom router failed; using the configured rules", request_id=request_id, error=_short(exc))
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
