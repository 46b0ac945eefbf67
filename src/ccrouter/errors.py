"""The error tree: every failure ccrouter reports on purpose, and its one conversion to Anthropic's error shape.

Every failure a client can see is a `GatewayError`: it carries the HTTP status, the Anthropic error type and a
message that says what happened and what to do next. Every failure the `ccr` command reports carries the exit code
it ends with; the CLI turns any `CcrouterError` into `ccr: <message>` and that code in one place. Messages never
hold stack traces or secrets. Standard library only: the fast commands import it.
"""

from __future__ import annotations

import json
from typing import Any

# HTTP status -> Anthropic error type, as Anthropic's own API answers.
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type_for_status(status: int) -> str:
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


class CcrouterError(Exception):
    """Base of every error ccrouter raises on purpose. `exit_code` is what `ccr` exits with when it reports it."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(CcrouterError):
    """The configuration cannot be used. The message names the key path and the fix."""

    exit_code = 2


class UserCodeError(CcrouterError):
    """A user's Python file (custom router, transformer plugin) cannot be loaded. The message names the file."""

    exit_code = 2


class ServiceError(CcrouterError):
    """The background service could not be started, stopped or reached. The message says why and what to do."""


class GatewayError(CcrouterError):
    """A failure answered to the client in Anthropic's error shape."""

    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or error_type_for_status(status)

    def body(self) -> dict[str, Any]:
        return error_body(self.error_type, self.message)


class BadRequest(GatewayError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message, "invalid_request_error")


class RoutingError(GatewayError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message, "invalid_request_error")


class UpstreamError(GatewayError):
    """The provider failed or answered with an error status."""

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str | None = None,
        retry_after_s: float | None = None,
        *,
        retry_later: bool = True,
        local: bool = False,
    ) -> None:
        super().__init__(status, message, error_type)
        self.retry_after_s = retry_after_s  # the provider's Retry-After, when it sent one
        # False when waiting cannot help: a server on this machine refused the connection (it is not running).
        # Other targets are still tried; another round after a back-off is not.
        self.retry_later = retry_later
        # True when this machine failed, not the provider (out of file descriptors): the provider is not blamed
        # (no cool-down) and no other target is tried (it would fail the same way).
        self.local = local


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def error_json(error_type: str, message: str) -> bytes:
    return json.dumps(error_body(error_type, message), ensure_ascii=False, separators=(",", ":")).encode()


def drop_tracebacks(exc: BaseException) -> None:
    """Clear the traceback of `exc` and of every exception chained to it, once it has been handled.

    A traceback holds the frames it passed through, and their locals: a request's body and what was built from
    it. A frame that also holds the exception (an `except ... as` name, a `last = exc`) makes a reference cycle,
    which only the garbage collector frees, and the service runs it rarely (`App` tunes it for speed): without
    this, every failed request kept its body in memory for a long while."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending.extend(chained for chained in (current.__cause__, current.__context__) if chained is not None)
