"""Pure-ASGI gate: API requests without a valid key get `401 {}` before their body is read.

Without it, FastAPI would buffer and parse a (possibly huge) JSON body before the key
dependency runs, so anyone could make the server hold large bodies, and a keyless request
with malformed JSON would get 400 instead of 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from imagine.accounts.keys import parse_authorization
from imagine.db.schema import Account

ACCOUNT_SCOPE_KEY = "imagine.account"

Lookup = Callable[[str], Awaitable[Account | None]]


class AuthGateMiddleware:
    """Resolves the key of every request under `prefix`; stores the account in the scope."""

    def __init__(self, app: ASGIApp, lookup: Lookup, prefix: str = "/api/") -> None:
        self.app = app
        self.lookup = lookup
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse unauthenticated API calls at once; pass everything else through."""
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        key = parse_authorization(header)
        account = await self.lookup(key) if key is not None else None
        if account is None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    # The body stays unread: close the connection rather than drain it.
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"2"),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b"{}"})
            return
        scope.setdefault("state", {})[ACCOUNT_SCOPE_KEY] = account
        await self.app(scope, receive, send)
