"""Every error rendered in the contract's shape, in one place."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

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


def render(exc: ImagineError) -> JSONResponse:
    """The response for a domain error: its status and `body()` (and Retry-After if busy)."""
    headers = {"retry-after": str(exc.retry_after)} if exc.retry_after is not None else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to the contract's shape; library errors are translated here."""

    @app.exception_handler(ImagineError)
    async def _domain(_request: Request, exc: ImagineError) -> JSONResponse:
        return render(exc)

    @app.exception_handler(PoolTimeout)
    async def _busy(_request: Request, _exc: PoolTimeout) -> JSONResponse:
        log.warning("database pool exhausted; answered 503")
        return render(ServiceBusy())

    @app.exception_handler(ClientGone)
    async def _gone(_request: Request, _exc: ClientGone) -> Response:
        return Response(status_code=499)  # nobody is listening; for access logs only

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        content_type = request.headers.get("content-type", "").lower()
        return render(
            ValidationFailed(*messages_for(exc.errors(), json_body="json" in content_type))
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, BodyRefused):
            refused = render(exc.__cause__.error)
            if isinstance(exc.__cause__.error, BodyTimeout):
                # The client stalled: close rather than wait on for the rest of the body.
                refused.headers["connection"] = "close"
            return refused
        reason = _REASONS.get(exc.status_code, str(exc.detail))
        return render(ImagineError(*([reason] if reason else []), status=exc.status_code))

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", error=type(exc).__name__)
        return render(InternalError())
