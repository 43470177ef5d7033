"""Every error rendered in one place: the contract's shape, or OpenAI's under /v1/.

The OpenAI-compatible routes (imagine.openai_compat) answer errors as OpenAI does,
`{"error": {"message", "type", "param", "code"}}`, with the same status codes as the native
routes, so OpenAI's SDKs raise their typed exceptions (401 AuthenticationError, 400
BadRequestError, 429 RateLimitError…). Which shape a request gets depends on its path only.
"""

from __future__ import annotations

import re
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from imagine.db.busy import database_busy
from imagine.errors import (
    ImagineError,
    InternalError,
    ServiceBusy,
    ValidationFailed,
)
from imagine.http.body_limit import BodyRefused, BodyTimeout
from imagine.http.disconnect import ClientGone
from imagine.http.validation import messages_for

log = structlog.get_logger(__name__)

_REASONS = {401: "", 404: "Not found", 405: "Method not allowed"}


OPENAI_PREFIX = "/v1/"

# OpenAI's error `type` and `code` per status, where it has one.
_OPENAI_TYPES = {
    401: ("invalid_request_error", "invalid_api_key"),
    402: ("insufficient_quota", "insufficient_credits"),
    404: ("invalid_request_error", "not_found"),
    409: ("invalid_request_error", "conflict"),
    429: ("requests", "rate_limit_exceeded"),
}
_OPENAI_DEFAULT_MESSAGES = {
    401: "Invalid or missing API key (send Authorization: Bearer <key>)",
    500: "Internal error",
}
_PARAM = re.compile(r"^([a-z_]+(?:\[\])?) ")
_OPENAI_PARAMS = frozenset(
    {
        "image",
        "image[]",
        "prompt",
        "model",
        "n",
        "size",
        "response_format",
        "output_format",
        "seed",
    }
)


def error_body(exc: ImagineError, path: str) -> dict[str, Any]:
    """The body for `exc` on `path`: the contract's shape, or OpenAI's under /v1/."""
    if not path.startswith(OPENAI_PREFIX):
        return exc.body()
    message = "; ".join(exc.messages) or _OPENAI_DEFAULT_MESSAGES.get(exc.status, "Error")
    kind, code = _OPENAI_TYPES.get(
        exc.status, ("server_error" if exc.status >= 500 else "invalid_request_error", None)
    )
    match = _PARAM.match(exc.messages[0]) if exc.messages else None
    param = match.group(1) if match and match.group(1) in _OPENAI_PARAMS else None
    error: dict[str, Any] = {"message": message, "type": kind, "param": param, "code": code}
    if exc.task_id is not None:
        error["task_id"] = exc.task_id
    return {"error": error}


def error_headers(exc: ImagineError) -> dict[str, str]:
    """Headers that go with `exc` (Retry-After when the client should retry)."""
    return {"retry-after": str(exc.retry_after)} if exc.retry_after is not None else {}


def render(exc: ImagineError, path: str = "") -> JSONResponse:
    """The response for a domain error: its status and body (and Retry-After if busy)."""
    return JSONResponse(
        error_body(exc, path), status_code=exc.status, headers=error_headers(exc) or None
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to the contract's shape; library errors are translated here."""

    @app.exception_handler(ImagineError)
    async def _domain(request: Request, exc: ImagineError) -> JSONResponse:
        return render(exc, request.url.path)

    @app.exception_handler(PoolTimeout)
    async def _busy(request: Request, _exc: PoolTimeout) -> JSONResponse:
        log.warning("database pool exhausted; answered 503")
        return render(ServiceBusy(), request.url.path)

    @app.exception_handler(OperationalError)
    async def _locked(request: Request, exc: OperationalError) -> JSONResponse:
        if database_busy(exc):
            log.warning("database lock wait ran out; answered 503")
            return render(ServiceBusy(), request.url.path)
        return await _bug(request, exc)

    @app.exception_handler(ClientGone)
    async def _gone(_request: Request, _exc: ClientGone) -> Response:
        return Response(status_code=499)  # nobody is listening; for access logs only

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        content_type = request.headers.get("content-type", "").lower()
        return render(
            ValidationFailed(*messages_for(exc.errors(), json_body="json" in content_type)),
            request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, BodyRefused):
            refused = render(exc.__cause__.error, request.url.path)
            if isinstance(exc.__cause__.error, BodyTimeout):
                # The client stalled: close rather than wait on for the rest of the body.
                refused.headers["connection"] = "close"
            return refused
        reason = _REASONS.get(exc.status_code, str(exc.detail))
        return render(
            ImagineError(*([reason] if reason else []), status=exc.status_code),
            request.url.path,
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", error=type(exc).__name__)
        return render(InternalError(), request.url.path)
