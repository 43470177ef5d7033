"""Authentication: one key lookup per request, in a pure-ASGI gate before the body is read.

Without the gate, FastAPI would buffer and parse a (possibly huge) JSON body before a key
dependency ran, so anyone could make the server hold large bodies, and a keyless request
with malformed JSON would get 400 instead of 401. Routes read the gate's result through
`authenticated_account`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagine.accounts.keys import parse_authorization
from imagine.db.busy import database_busy
from imagine.db.schema import Account
from imagine.errors import ImagineError, RateLimited, ServiceBusy, Unauthorized

ACCOUNT_SCOPE_KEY = "imagine.account"

Lookup = Callable[[str], Awaitable[Account | None]]
# How an error's body looks on a path (imagine.http.errors.error_body).
ErrorShape = Callable[[ImagineError, str], dict[str, Any]]


def contract_shape(error: ImagineError, _path: str) -> dict[str, Any]:
    """The contract's error body, whatever the path."""
    return error.body()


class AuthGateMiddleware:
    """Resolves the key of every request under `prefixes`; stores the account in the scope.

    It also counts each account's uploads being received (bodies over SMALL_BODY, or
    chunked): beyond `max_uploads` at once the request gets 429 before its body is read, so
    one key cannot hold many slow uploads.
    """

    def __init__(
        self,
        app: ASGIApp,
        lookup: Lookup,
        prefixes: tuple[str, ...] = ("/api/",),
        max_uploads: int = 8,
        shape: ErrorShape = contract_shape,
    ) -> None:
        self.app = app
        self.lookup = lookup
        self.prefixes = prefixes
        self.max_uploads = max_uploads
        self.shape = shape
        self._uploads: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse unauthenticated API calls at once; pass everything else through."""
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        key = parse_authorization(header)
        try:
            account = await self.lookup(key) if key is not None else None
        except (PoolTimeout, OperationalError) as exc:
            if not database_busy(exc):
                raise
            busy = ServiceBusy()
            await _refuse(send, busy.status, self.shape(busy, path), [(b"retry-after", b"1")])
            return
        if account is None:
            await _refuse(send, 401, self.shape(Unauthorized(), path), [])
            return
        scope.setdefault("state", {})[ACCOUNT_SCOPE_KEY] = account
        if not _is_upload(scope):
            await self.app(scope, receive, send)
            return
        if self._uploads.get(account.id, 0) >= self.max_uploads:
            limited = RateLimited()
            await _refuse(send, limited.status, self.shape(limited, path), [(b"retry-after", b"1")])
            return
        await self._counted(account.id, scope, receive, send)

    async def _counted(self, account_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request while its body counts against the account's uploads."""
        self._uploads[account_id] = self._uploads.get(account_id, 0) + 1
        counted = True

        def done() -> None:
            nonlocal counted
            if counted:
                counted = False
                left = self._uploads.get(account_id, 1) - 1
                if left > 0:
                    self._uploads[account_id] = left
                else:
                    self._uploads.pop(account_id, None)

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                done()  # the body is complete (or the client left)
            return message

        try:
            await self.app(scope, counting_receive, send)
        finally:
            done()


# A body up to this size is not an upload: it costs little memory, the body deadline bounds
# its time, and under load (a backlog before the app reads it) counting it would refuse a
# plan's legitimate concurrency of small JSON requests.
SMALL_BODY = 64 * 1024


def _is_upload(scope: Scope) -> bool:
    """A body larger than SMALL_BODY, or of unknown length (chunked)."""
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            return not value.isdigit() or int(value) > SMALL_BODY
        if name == b"transfer-encoding":
            return True
    return False


async def _refuse(
    send: Send, status: int, body: dict[str, object], extra: list[tuple[bytes, bytes]]
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            # The body stays unread: close the connection rather than drain it.
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


# The OpenAPI security scheme of every /api/ route (Swagger UI's "Authorize" button).
API_KEY = APIKeyHeader(
    name="Authorization",
    scheme_name="ApiKey",
    description="Your API key, raw (`Authorization: <key>`) or `Authorization: Bearer <key>`.",
    auto_error=False,
)


async def authenticated_account(
    request: Request, authorization: Annotated[str | None, Depends(API_KEY)] = None
) -> Account:
    """The account the gate resolved for this request, or 401 `{}` (no second lookup).

    `authorization` is declared for the OpenAPI document only; the gate already read it.
    """
    del authorization
    account = request.scope.get("state", {}).get(ACCOUNT_SCOPE_KEY)
    if not isinstance(account, Account):
        raise Unauthorized()
    return account
