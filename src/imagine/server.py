"""How `imagine serve` runs uvicorn: bounded request heads, a head-read deadline, a cap.

uvicorn's defaults accept unbounded headers (httptools has no size limit), never time out
a client that is still sending its request head, and keep a new connection that sends
nothing open forever. Here:

- the HTTP/1.1 implementation is h11 (pure Python, bounded): a request head (request line
  plus every header) larger than `IMAGINE_MAX_HEADER_BYTES` gets `431` and the connection
  closes. That also bounds the header count (each header line takes at least 4 bytes);
  `HeaderCountGuard` then refuses more than `IMAGINE_MAX_HEADERS` fields with `431`;
- a connection must deliver a complete request head within `IMAGINE_HEADER_TIMEOUT`
  seconds of connecting (or of starting its next request on a kept-alive connection), or
  it is closed (slow-loris guard);
- `IMAGINE_LIMIT_CONCURRENCY` connections plus requests in progress is the last guard:
  beyond it uvicorn answers `503` at once;
- a connection closed after an answer given before the request body was read (a 401 from
  the auth gate, a 413) closes the way nginx does ("lingering close"): FIN first, then what
  the client is still sending is read and dropped for a moment. A plain close would make
  the kernel answer that data with a reset, which can destroy the answer on its way: the
  client (the OpenAI SDK, say) would see a connection error instead of the 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, ClassVar

import h11
import uvicorn
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

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


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for the request head and a 431 for big heads."""

    header_timeout: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = self.config.h11_max_incomplete_event_size
        self._max_head = limit if limit is not None else DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        self._head_bytes = 0  # received since the current request head began
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock: the first request head must arrive in time."""
        self._linger = LingeringTransport(transport, lambda: self.conn.their_state is h11.SEND_BODY)
        super().connection_made(self._linger)  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the head clock (and a lingering close's timer)."""
        self._disarm_head_timer()
        self._linger.closed()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Count head bytes and keep the head clock running until the head is complete."""
        if self._linger.lingering:
            self._linger.drop(data)
            return
        waiting_for_head = self.conn.their_state is h11.IDLE
        if waiting_for_head:
            self._head_bytes += len(data)
            self._arm_head_timer()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._head_bytes = 0
            self._disarm_head_timer()

    def send_400_response(self, msg: str) -> None:
        """h11 refuses an oversized head as a protocol error: answer it with 431, not 400."""
        if self._head_bytes <= self._max_head:
            super().send_400_response(msg)
            return
        reason = b"Request Header Fields Too Large"
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
        self.transport.write(
            self.conn.send(h11.Response(status_code=431, headers=headers, reason=reason))
        )
        self.transport.write(self.conn.send(h11.Data(data=b"request header fields too large")))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        if self._head_bytes:
            # A raw answer: h11 has no request to respond to yet, and the connection ends here.
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
        self.logger.debug("closed a connection that did not send its request head in time")
        self.transport.close()


def guarded_protocol(header_timeout: float) -> type[GuardedH11Protocol]:
    """The protocol class for uvicorn.Config(http=…), with `header_timeout` seconds."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout": header_timeout})


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
        "http": guarded_protocol(settings.header_timeout),
        "h11_max_incomplete_event_size": settings.max_header_bytes,
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
