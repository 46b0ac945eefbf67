"""The only module that talks to providers over the network: one pooled aiohttp client, the gateway's `Transport`.

Connection errors and time-outs become `UpstreamError`s with a message that names the provider and the next
step. Running out of file descriptors is this machine's failure, not the provider's: a `local` 503 that says how
to raise the limit, reported to `on_out_of_files` once per burst. Cancelling the task that awaits a response or a
chunk closes the connection at once, so a client that goes away stops the provider's work (and its billing) too.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import math
import resource
import time
from collections.abc import AsyncIterator, Callable, Mapping
from functools import lru_cache

import aiohttp
from yarl import URL

from ccrouter.errors import UpstreamError
from ccrouter.providers.base import ForwardRequest, Transport

OUT_OF_FILES_QUIET_S = 30.0  # a burst of fd exhaustion ends after this long without one; the next one is logged


class UpstreamResponse:
    """A `TransportResponse` over an aiohttp response."""

    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _failure(exc, "while reading the response") from None
        finally:
            self._response.release()

    async def next_chunk(self) -> bytes:
        """The next piece of the body (b"" at its end). Safe to cancel: nothing read is lost."""
        try:
            return await self._response.content.readany()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _failure(exc, "in the middle of the stream") from None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; raises UpstreamError when the connection breaks or stalls."""
        content = self._response.content
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _failure(exc, "in the middle of the stream") from None

    def close(self) -> None:
        """Drop the connection (used when the body was not read to the end)."""
        self._response.close()


class Upstream(Transport):
    """The pooled client (a `Transport`). Time-out and proxy come with each request, from the config that request
    started on."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self.on_out_of_files: Callable[[str], None] | None = None  # told the first failure of each burst
        self._out_of_files_at = -math.inf

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
        # No cookie jar: cookies one provider sets must not ride along on other users' requests (and keeping
        # none saves a jar lookup per request).
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=True,
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self, timeout: float | None = None) -> None:
        """Close the pooled connections, waiting at most `timeout` seconds for them to go: aiohttp waits until
        each one's socket is closed, which a provider that reads nothing more can delay forever."""
        session, self._session = self._session, None
        if session is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await session.close()

    async def post(
        self, request: ForwardRequest, provider_name: str, timeout_ms: int, proxy_url: str | None = None
    ) -> UpstreamResponse:
        assert self._session is not None, "Upstream.start() was not awaited"
        try:
            response = await self._session.post(
                _parsed_url(request.url),
                data=request.body,
                headers=request.headers,
                proxy=proxy_url,
                timeout=_timeout(timeout_ms),
            )
        except aiohttp.ClientOSError as exc:  # connecting, or the connection breaking while the request is sent
            raise self._os_failure(exc, request.url, provider_name) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _failure(exc, f"from provider {provider_name!r}") from None
        except ValueError as exc:  # aiohttp refuses the request itself: credentials both in the URL and a header
            raise UpstreamError(
                502,
                f"Cannot send a request to provider {provider_name!r} ({_origin(request.url)}): {exc}. "
                "Put the credentials either in its api_base_url or in its api_key, not both.",
                retry_later=False,
            ) from None
        return UpstreamResponse(response)

    def _os_failure(self, exc: aiohttp.ClientOSError, url: str, provider_name: str) -> UpstreamError:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            return self._out_of_files(exc.errno, provider_name)
        if not isinstance(exc, aiohttp.ClientConnectorError):
            return _failure(exc, f"from provider {provider_name!r}")
        return UpstreamError(
            502,
            f"Could not connect to provider {provider_name!r} ({_origin(url)}): {exc.strerror or exc}. "
            "Check its api_base_url in the config and that the server is running.",
            retry_later=not _refused_on_this_machine(exc),
        )

    def _out_of_files(self, error_number: int, provider_name: str) -> UpstreamError:
        """The 503 for a connection this machine could not open for lack of file descriptors, told to
        `on_out_of_files` when it starts a burst."""
        failure = UpstreamError(503, _out_of_files_message(error_number, provider_name), retry_later=False, local=True)
        now = time.monotonic()
        if now - self._out_of_files_at > OUT_OF_FILES_QUIET_S and self.on_out_of_files is not None:
            self.on_out_of_files(
                f"{failure.message} (logged once per burst: until {OUT_OF_FILES_QUIET_S:.0f} s pass without "
                "another, further requests fail the same way without a log line of their own)"
            )
        self._out_of_files_at = now
        return failure


def _out_of_files_message(error_number: int, provider_name: str) -> str:
    if error_number == errno.ENFILE:
        return (
            f"This machine ran out of file descriptors (its system-wide limit) while ccrouter connected to provider "
            f"{provider_name!r}, which was not reached and is not to blame. Close programs that hold many files or "
            "raise the limit (sysctl fs.file-max), then retry."
        )
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return (
        f"ccrouter ran out of file descriptors (its limit is {soft} open files) while connecting to provider "
        f"{provider_name!r}, which was not reached and is not to blame. Raise the limit where the router starts "
        "(`ulimit -n 65536` before `ccr start`, or LimitNOFILE= for a systemd service), or run fewer Claude Code "
        "sessions and parallel requests at once, then retry."
    )


@lru_cache(maxsize=16)
def _timeout(timeout_ms: int) -> aiohttp.ClientTimeout:
    """API_TIMEOUT_MS: to connect (capped at 30 s), to the response headers, and between streamed chunks."""
    return aiohttp.ClientTimeout(total=None, sock_connect=min(timeout_ms, 30_000) / 1000, sock_read=timeout_ms / 1000)


@lru_cache(maxsize=256)
def _parsed_url(url: str) -> URL:
    """Provider endpoints are few and fixed: parse each once, not on every request."""
    return URL(url)


def _failure(exc: BaseException, where: str) -> UpstreamError:
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamError(
            504,
            f"The provider did not answer in time {where} (API_TIMEOUT_MS). "
            "Try again, raise API_TIMEOUT_MS, or route to another model.",
            "timeout_error",
        )
    return UpstreamError(
        502,
        f"The provider's connection failed {where}: {type(exc).__name__}. Try again or route to another model.",
        "api_error",
    )


def _refused_on_this_machine(exc: aiohttp.ClientConnectorError) -> bool:
    """A loopback server that refuses connections is not running: retrying it in a second will not help."""
    if exc.os_error.errno != errno.ECONNREFUSED:
        return False
    try:
        return ipaddress.ip_address(exc.host).is_loopback
    except ValueError:
        return exc.host == "localhost"


def _origin(url: str) -> str:
    """Where a URL points, for a message: scheme, host and port, without credentials, path or query."""
    scheme, _, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return f"{scheme}://{authority.rpartition('@')[2]}"
