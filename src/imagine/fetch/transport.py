"""The guarded transport: resolve once, check every address, dial the address that was checked.

The check lives in the httpcore network backend, so it applies to every connection the
client opens (each redirect hop, every feature, every retry), and the socket goes to the
pinned IP while TLS still sends SNI for, and verifies the certificate against, the URL's
host name (httpcore passes the origin host to `start_tls`, not the dialled address).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable

import anyio
import httpcore
import httpx
import structlog
from httpcore._backends.auto import AutoBackend

from imagine.fetch.addresses import BadHost, IPAddress, parse_host
from imagine.fetch.policy import AddressPolicy, DestinationRefused
from imagine.fetch.resolver import ResolveFailed, Resolver
from imagine.semaphores import release_once

log = structlog.get_logger(__name__)

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class ResponseTooLarge(httpx.TransportError):
    """The response body passed the size cap; reading stopped there."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"response is larger than {limit} bytes")
        self.limit = limit


class DeadlineExceeded(httpx.TimeoutException):
    """The client's total deadline for one request passed (any phase: the body may be sent).

    Its own error, not `ConnectTimeout`: a caller that retries only requests that provably
    never left (refused, unresolvable, connect timeout) must not retry this one.
    """


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that resolves, vets and pins every TCP connection."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = inner or AutoBackend()

    async def vet(self, host: str, port: int) -> list[IPAddress]:
        """The addresses `host` may be dialled at, or DestinationRefused naming the reason."""
        try:
            parsed = parse_host(host)
        except BadHost as exc:
            raise DestinationRefused(str(exc)) from exc
        if isinstance(parsed, str):
            opened = self._policy.host_allowed(parsed)
            if not opened and (parsed == "localhost" or parsed.endswith(".localhost")):
                raise DestinationRefused(f"{parsed} is a loopback name", private=True)
            try:
                addresses = await self._resolver.resolve(parsed, port)
            except ResolveFailed as exc:
                raise httpcore.ConnectError(f"{parsed} could not be resolved") from exc
            if opened:
                return addresses
        else:
            addresses = [parsed]
        for address in addresses:
            kind = self._policy.refused_kind(address)
            if kind is None:
                continue
            if isinstance(parsed, str):
                # The client wrote a name: what it resolves to inside our network is the
                # operator's business, not theirs. Log the address; tell them only the kind.
                detail = f"{parsed} resolves to {address}, {kind}"
                log.info("outbound destination refused", host=parsed, address=str(address))
                raise DestinationRefused(
                    f"{parsed} resolves to {kind}", private=True, detail=detail
                )
            raise DestinationRefused(f"{address} is {kind}", private=True)
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Dial one of the vetted addresses of `host` (never `host` itself)."""
        addresses = await self.vet(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Unix sockets are never an outbound destination."""
        raise DestinationRefused("unix sockets are not an outbound destination")

    async def sleep(self, seconds: float) -> None:
        """Delegate to the real backend."""
        await self._inner.sleep(seconds)


class _CappedStream(httpx.AsyncByteStream):
    """A response body that stops at `limit` bytes and at the request's deadline."""

    def __init__(
        self,
        inner: httpx.AsyncByteStream,
        limit: int,
        expires: float,
        request: httpx.Request,
        on_close: Callable[[], None],
    ) -> None:
        self._inner = inner
        self._limit = limit
        self._expires = expires
        self._request: httpx.Request | None = request  # for errors while reading only
        self._on_close = on_close

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        chunks = self._inner.__aiter__()
        while True:
            remaining = self._expires - time.monotonic()
            try:
                with anyio.fail_after(max(remaining, 0.0)):
                    chunk = await chunks.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                raise DeadlineExceeded("deadline exceeded", request=self._request) from exc
            seen += len(chunk)
            if seen > self._limit:
                raise ResponseTooLarge(self._limit)
            yield chunk

    async def aclose(self) -> None:
        # The response keeps its stream after reading; the request (here, and under the
        # inner stream, in httpcore's pool request) would keep its body, an upload, alive
        # for as long as the caller keeps the response.
        inner, self._inner, self._request = self._inner, _CLOSED, None
        try:
            await inner.aclose()
        finally:
            self._on_close()  # the connection is back in the pool


_CLOSED = httpx.ByteStream(b"")  # what a closed _CappedStream reads from


def _nothing() -> None:
    """No slot taken yet: nothing to give back."""


class GuardedTransport(httpx.AsyncHTTPTransport):
    """http(s) only, through the guarded backend, with a body cap and a total deadline.

    Per request, `extensions={"deadline": seconds, "max_bytes": n}` tighten the defaults.
    """

    def __init__(
        self,
        backend: GuardedBackend,
        *,
        max_bytes: int,
        deadline: float,
        limits: httpx.Limits,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        # One context for the stock pool and its replacement: loading the CA bundle is most
        # of what building a client costs (about 15 ms each time).
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, trust_env=False, limits=limits)
        # Replace the stock pool by one dialling through the guard (httpx has no public hook).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
        self._max_bytes = max_bytes
        self._deadline = deadline
        # Requests wait for a connection here, first come first served, not in httpcore's
        # pool: its queue is rescanned against every connection on each request and each
        # response close (O(queued × connections)), which under a burst of hundreds of
        # requests cost more CPU than the requests themselves.
        self._turns = anyio.Semaphore(limits.max_connections or 100, fast_acquire=True)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` under the guard; the body is capped while it streams."""
        if request.url.scheme not in ("http", "https"):
            raise DestinationRefused(f"scheme {request.url.scheme!r} is not http(s)")
        deadline = min(float(request.extensions.get("deadline", self._deadline)), self._deadline)
        limit = min(int(request.extensions.get("max_bytes", self._max_bytes)), self._max_bytes)
        expires = time.monotonic() + deadline
        give_back: Callable[[], None] = _nothing
        try:
            with anyio.fail_after(deadline):
                await self._turns.acquire()
                give_back = release_once(self._turns)
                response = await super().handle_async_request(request)
        except TimeoutError as exc:
            give_back()
            raise DeadlineExceeded("deadline exceeded", request=request) from exc
        except BaseException:
            give_back()
            raise
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            try:
                await response.aclose()
            finally:
                give_back()
            raise ResponseTooLarge(limit)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CappedStream(response.stream, limit, expires, request, give_back),
            extensions=response.extensions,
        )
