"""Pure-ASGI request body guard: a size cap and a deadline, before anything is buffered.

Declared or streamed bodies over `max_bytes` get a 413; a body still incomplete
`timeout` seconds after the request started gets a 408, so a client that stalls half-way
through a large body cannot hold its memory and connection indefinitely.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagine.errors import ImagineError, PayloadTooLarge


class BodyTimeout(ImagineError):
    """408: the request body did not arrive in time."""

    status = 408

    def __init__(self, timeout: float) -> None:
        super().__init__(f"request body was not received within {timeout:g} s")


class BodyRefused(Exception):
    """Raised inside receive() when the body breaks a limit; carries the error to render."""

    def __init__(self, error: ImagineError) -> None:
        super().__init__(str(error))
        self.error = error


class BodyLimitMiddleware:
    """Refuses bodies above `max_bytes`, or not complete within `timeout` seconds."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        timeout: float = 60.0,
        shape: Callable[[ImagineError, str], dict[str, Any]] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        # How an error's body looks on a path (default: the contract's shape).
        self.shape = shape or (lambda error, _path: error.body())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count streamed bytes against the deadline."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _refuse(send, PayloadTooLarge(self.max_bytes), self._body_of(scope))
            return
        seen = 0
        complete = False
        started = False
        deadline = anyio.current_time() + self.timeout

        async def limited_receive() -> Message:
            nonlocal seen, complete
            if complete:
                # After the body only the disconnect is left to wait for: no deadline.
                return await receive()
            try:
                with anyio.fail_after(max(deadline - anyio.current_time(), 0)):
                    message = await receive()
            except TimeoutError:
                raise BodyRefused(BodyTimeout(self.timeout)) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyRefused(PayloadTooLarge(self.max_bytes))
                complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyRefused as exc:
            if not started:
                await _refuse(send, exc.error, self._body_of(scope))

    def _body_of(self, scope: Scope) -> Callable[[ImagineError], dict[str, Any]]:
        path = str(scope.get("path", ""))
        return lambda error: self.shape(error, path)


async def _refuse(
    send: Send, error: ImagineError, body_of: Callable[[ImagineError], dict[str, Any]]
) -> None:
    body = json.dumps(body_of(error)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
