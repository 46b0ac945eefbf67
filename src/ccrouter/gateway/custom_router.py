"""The user's Python router (`CUSTOM_ROUTER_PATH`): `router(request, config)`, sync or async.

It returns `"provider,model"` to choose a target or `None` to let the configured rules decide. Whatever goes
wrong inside it is logged and routing falls through to the rules: a bug in a user's router never fails a request.
"""

from __future__ import annotations

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
    except Exception as exc:  # the user's code may raise anything
        log.warn("custom router failed; using the configured rules", request_id=request_id, error=_short(exc))
        return None
    if answer is None or answer == "":
        return None
    if not isinstance(answer, str) or "," not in answer:
        log.warn(
            'custom router returned something other than "provider,model" or None; using the configured rules',
            request_id=request_id,
            returned=repr(answer)[:200],
        )
        return None
    return answer


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
