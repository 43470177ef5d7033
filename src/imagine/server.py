"""How `imagine serve` runs uvicorn: bounded request heads, a head-read deadline, a cap.

uvicorn's defaults accept unbounded headers (httptools has no size limit), never time out
a client that is still sending its request head, and keep a new connection that sends
nothing open forever. Here the HTTP/1.1 implementation is uvicorn's httptools one (llhttp,
in C: about 0.1–0.2 ms less server CPU per request than h11) wrapped in
`GuardedHttpToolsProtocol`:

- a request head (request line plus every header) larger than `IMAGINE_MAX_HEADER_BYTES`
  gets `431` and the connection closes. The bytes of an unfinished head are counted as they
  arrive (a whole read when the head began with it; for a head that began inside a read,
  after a pipelined request, the rest of the read after what that request took: its body
  exactly, its head and chunk framing as written canonically), and a complete head is
  measured as written canonically: a client streaming megabytes of headers holds at most the
  limit plus one read (256 KiB) per connection, and the limit holds however the head is
  split. That also bounds the header count (each header line takes at least 4 bytes);
  `HeaderCountGuard` then refuses more than `IMAGINE_MAX_HEADERS` fields with `431`;
- a connection must deliver a complete request head within `IMAGINE_HEADER_TIMEOUT`
  seconds of connecting (or of starting its next request on a kept-alive connection, or of
  the answer before it for a pipelined one), or it gets `408` and is closed (a silent one is
  just closed: slow-loris guard);
- what llhttp accepts but h11 refused is refused too: a `Transfer-Encoding` other than
  exactly `chunked` (400), a missing (HTTP/1.1) or repeated `Host` (400), HTTP versions
  other than 1.0 and 1.1 (505). Trailer fields of a chunked body are dropped (they never
  reach the request's headers), and chunk framing or trailers without body bytes are bounded
  by the same limit. An `Upgrade`/CONNECT request (llhttp would read what follows its head
  as another protocol: its body, a smuggled request) is answered as plain HTTP and the
  connection closes after it, nothing more read. llhttp itself refuses both
  `Content-Length` and `Transfer-Encoding`, repeated `Content-Length`, obs-fold, bare LF
  and control characters in header values;
- a refusal of a pipelined request head waits until the requests before it are answered
  (their answers are not cut); a broken body aborts its request;
- `IMAGINE_LIMIT_CONCURRENCY` connections plus requests in progress is the last guard:
  beyond it uvicorn answers `503` at once;
- a connection closed while the client may still be sending (an answer given before the
  request body was read: a 401 from the auth gate, a 413; a refused head) closes the way
  nginx does ("lingering close"): FIN first, then what the client is still sending is read
  and dropped for a moment. A plain close would make the kernel answer that data with a
  reset, which can destroy the answer on its way: the client (the OpenAI SDK, say) would
  see a connection error instead of the 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, ClassVar

import httptools
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from imagine.settings import Settings

KEEP_ALIVE_SECONDS = 5
LINGER_SECONDS = 3.0  # how long a lingering close keeps reading what the client still sends
LINGER_MAX_BYTES = 64 * 1024 * 1024  # ... and how much of it, at most


class LingeringTransport:
    """The connection's transport, with `close()` doing a lingering close when the client
    may still be sending a request body; everything else is the transport itself."""

    def __init__(self, transport: asyncio.Transport, body_pending: Any) -> None:
        self._transport = transport
        self._body_pending = body_pending  # () -> bool: is a request body still arriving?
        self.lingering = False
        self._dropped = 0
        self._timer: asyncio.TimerHandle | None = None
        self.write = transport.write  # the hot path, without __getattr__

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        """Closing once a lingering close began (nothing more is written)."""
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        """Close; with a request body still arriving: FIN now, the socket a moment later."""
        if self.lingering:
            return
        transport = self._transport
        if transport.is_closing() or not self._body_pending() or not transport.can_write_eof():
            transport.close()
            return
        self.lingering = True
        transport.write_eof()  # after what is buffered: the answer goes out whole
        with contextlib.suppress(RuntimeError):
            transport.resume_reading()  # uvicorn may have paused it (flow control)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(LINGER_SECONDS, transport.close)

    def drop(self, data: bytes) -> None:
        """Data arriving during a lingering close: read and forgotten, within the caps."""
        self._dropped += len(data)
        if self._dropped > LINGER_MAX_BYTES:
            self.closed()
            self._transport.close()

    def closed(self) -> None:
        """The connection is gone: no timer left behind."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _Refused(Exception):
    """Raised in a parser callback to stop parsing: the request gets `response`."""

    def __init__(self, response: bytes) -> None:
        super().__init__()
        self.response = response


class _NoTrailers(list[tuple[bytes, bytes]]):
    """Where the parser's header callback lands once a head is complete: trailer fields of a
    chunked body are dropped (as h11 does), never added to the running request's headers."""

    def append(self, item: tuple[bytes, bytes]) -> None:
        """Drop a trailer field."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head (431), a deadline for it
    (408), h11's strictness where llhttp is lenient, and a lingering close."""

    header_timeout: ClassVar[float] = 10.0
    max_head: ClassVar[int] = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._no_trailers = _NoTrailers()
        self.headers = self._no_trailers  # no request head begun yet
        self._head_open = True  # waiting for, or reading, a request head (not in a body)
        self._head_bytes = 0  # of the request head being read
        self._framing = 0  # bytes fed in a body without a body byte: chunk framing, trailers
        self._ended = False  # a request ended during the current feed
        self._fed_body = 0  # body bytes in the current feed
        self._fed_other = 0  # other bytes of the feed that the parser has shown (heads, framing)
        self._stopped = False  # the parser is fed no more (a refusal, an upgrade request)
        self._deferred: bytes | None = None  # a refusal waiting for the answers before it
        self._head_timer: asyncio.TimerHandle | None = None

    # --- connection ---

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock: the first request head must arrive in time."""
        self._linger = LingeringTransport(transport, self._client_may_be_sending)
        super().connection_made(self._linger)  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the head clock (and a lingering close's timer)."""
        self._disarm_head_timer()
        self._linger.closed()
        super().connection_lost(exc)

    def _client_may_be_sending(self) -> bool:
        return not self._head_open or self._stopped

    def _busy(self) -> bool:
        """An earlier request on this connection is still being answered (or queued)."""
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete

    def data_received(self, data: bytes) -> None:
        """Parse, counting the bytes of an unfinished request head and of body framing."""
        if self._linger.lingering:
            self._linger.drop(data)
            return
        if self._stopped:
            return
        self._unset_keepalive_if_required()
        head_was_open = self._head_open
        self._ended = False
        self._fed_body = self._fed_other = 0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # An `Upgrade`/CONNECT request: llhttp takes what follows its head as another
            # protocol's bytes (its body included). It is answered as a plain request, and
            # nothing after it is read: the connection closes after the answer.
            self._stopped = True
            return
        except httptools.HttpParserError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused.response)
            else:
                self.logger.debug("invalid HTTP request received: %s", exc)
                self._refuse(_answer(400, str(exc) or "invalid HTTP request"))
            return
        if self._head_open:
            if head_was_open and not self._ended:
                self._head_bytes += len(data)  # all of it is head: it began with this one
            elif self.headers is self._no_trailers:
                self._head_bytes = 0  # the feed ended with a request: no next head yet
                return
            else:  # the next head began inside this feed: the rest of the feed (what the
                # requests before it took is known for canonical heads and framing, and
                # exactly for bodies), or at least what the parser has shown of it
                rest = len(data) - self._fed_body - self._fed_other
                self._head_bytes = max(self._head_size(), rest)
            if self._head_bytes > self.max_head:
                self._refuse(_answer(431, "request header fields too large"))
            elif self._busy():
                self.flow.pause_reading()  # pipelined: read on once the answers are out
            else:
                self._arm_head_timer()
        elif not head_was_open and not self._ended:
            if self._fed_body:
                self._framing = 0
            else:
                self._framing += len(data)
                if self._framing > self.max_head:
                    self._refuse(_answer(400, "chunk framing or trailers too large"))

    def _refuse(self, response: bytes) -> None:
        """Answer `response` and close: at once, or (a pipelined request head) once the
        requests before it are answered; a broken body aborts its request."""
        self._stopped = True
        self._disarm_head_timer()
        if self._head_open:
            if self._busy():
                self._deferred = response
                self.flow.pause_reading()
                return
            self.transport.write(response)
        else:
            cycle = self.cycle
            if not cycle.response_started:
                self.transport.write(response)
            cycle.disconnected = True  # the app sees a disconnect; what it sends is dropped
            cycle.message_event.set()
        self.transport.close()

    # --- parser callbacks ---

    def on_headers_complete(self) -> None:
        """Refuse what h11 refused, then hand the request on; trailers go nowhere."""
        self._check_head()
        super().on_headers_complete()
        self._head_open = False
        self._head_bytes = self._framing = 0
        self._disarm_head_timer()
        self.headers = self._no_trailers
        if self.parser.should_upgrade():
            self.cycle.keep_alive = False  # answered, then closed: see data_received

    def _check_head(self) -> None:
        """Refuse the head before the app sees it; count what it took of the current feed."""
        version = self.parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise _Refused(_answer(505, "HTTP version not supported"))
        hosts = 0
        size = len(self.parser.get_method()) + len(self.url) + 14  # as in _head_size
        for name, value in self.headers:
            size += len(name) + len(value) + 4
            if name == b"host":
                hosts += 1
            elif name == b"transfer-encoding" and value.strip().lower() != b"chunked":
                raise _Refused(_answer(400, "only Transfer-Encoding: chunked is supported"))
        if max(self._head_bytes, size) > self.max_head:
            raise _Refused(_answer(431, "request header fields too large"))
        self._fed_other += max(0, size - self._head_bytes)  # its part in the current feed
        if hosts > 1 or (hosts == 0 and version == "1.1"):
            raise _Refused(_answer(400, "exactly one Host header is required"))

    def _head_size(self) -> int:
        """The head parsed so far, as written with single spaces and CRLFs."""
        size = len(self.parser.get_method()) + len(self.url) + 14  # request line, last CRLF
        for name, value in self.headers:
            size += len(name) + len(value) + 4
        return size

    def on_body(self, body: bytes) -> None:
        """Note that body bytes came (what else came is framing)."""
        self._fed_body += len(body)
        super().on_body(body)

    def on_chunk_header(self) -> None:
        """A chunk's size line and its CRLF: at least 5 bytes of framing."""
        self._fed_other += 5

    def on_message_complete(self) -> None:
        """A request ended: what comes next is a request head."""
        self._head_open = self._ended = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """Answers are out: send a deferred refusal, or start the next head's clock."""
        super().on_response_complete()
        if self.transport.is_closing() or self._busy():
            return
        if self._deferred is not None:
            self.transport.write(self._deferred)
            self.transport.close()
        elif self._head_open and self._head_bytes:
            self._unset_keepalive_if_required()
            self._arm_head_timer()

    # --- the head deadline ---

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._head_open or self._stopped or self._busy() or self.transport.is_closing():
            return
        if self._head_bytes:
            self.transport.write(_answer(408, "request head not received in time"))
        self.logger.debug("closed a connection that did not send its request head in time")
        self.transport.close()


def _answer(status: int, text: str) -> bytes:
    """A complete plain-text response that closes the connection."""
    body = text.encode("ascii", "replace")
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


def guarded_protocol(header_timeout: float, max_head: int) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for uvicorn.Config(http=…), with its head deadline and size cap."""
    attributes = {"header_timeout": header_timeout, "max_head": max_head}
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), attributes)


class HeaderCountGuard:
    """Pure ASGI: a request with more than `max_headers` header fields gets 431."""

    def __init__(self, app: ASGIApp, max_headers: int) -> None:
        self.app = app
        self.max_headers = max_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse over-long header lists before the app sees them."""
        if scope["type"] == "http" and len(scope.get("headers") or ()) > self.max_headers:
            body = json.dumps({"errors": [{"msg": "too many request header fields"}]}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 431,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def server_config(app: ASGIApp, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration `imagine serve` runs `app` with (tests start the same one)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": guarded_protocol(settings.header_timeout, settings.max_header_bytes),
        "ws": "none",  # no WebSocket routes: an upgrade request is answered as plain HTTP
        "limit_concurrency": settings.limit_concurrency,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "lifespan": "on",
        "proxy_headers": False,
        # Logging is configured by imagine.logs (JSON lines, no locals, quiet httpx).
        "log_config": None,
        "log_level": settings.log_level.lower(),
    }
    options.update(overrides)
    return uvicorn.Config(HeaderCountGuard(app, settings.max_headers), **options)
