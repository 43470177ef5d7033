"""Authentication: one key lookup per request, in a pure-ASGI gate before the body is read.

Without the gate, FastAPI would buffer and parse a (possibly huge) JSON body before a key
dependency ran, so anyone could make the server hold large bodies, and a keyless request
with malformed JSON would get 400 instead of 401. Routes read the gate's result through
`authenticated_account`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from imagine.accounts.keys import parse_authorization
from imagine.db.schema import Account
from imagine.errors import Unauthorized

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


def authenticated_account(
    request: Request,
    authorization: Annotated[str | None, Header(description="API key, raw or Bearer")] = None,
) -> Account:
    """The account the gate resolved for this request, or 401 `{}` (no second lookup).

    `authorization` is declared for the OpenAPI document only; the gate already read it.
    """
    del authorization
    account = request.scope.get("state", {}).get(ACCOUNT_SCOPE_KEY)
    if not isinstance(account, Account):
        raise Unauthorized()
    return account
