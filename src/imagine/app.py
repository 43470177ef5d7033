"""create_app(settings): routers, error handlers and background loops; no module-level state."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from imagine import __version__
from imagine.accounts import repository as accounts_repo
from imagine.accounts.routes import router as accounts_router
from imagine.api_responses import install_openapi
from imagine.auth_gate import AuthGateMiddleware
from imagine.body_limit import BodyLimitMiddleware, BodyTooLarge
from imagine.clock import Clock
from imagine.db.migrate import upgrade
from imagine.db.schema import Account
from imagine.engines.registry import log_routes
from imagine.errors import ImagineError
from imagine.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from imagine.services import Services, build_services
from imagine.settings import Settings
from imagine.storage.routes import router as files_router
from imagine.storage.sweeper import sweep_expired
from imagine.tasks.pipeline import AdmittedTaskCrashed, AdmittedTaskFailed, recover_orphans
from imagine.tasks.routes import ClientGone
from imagine.tasks.routes import router as tasks_router
from imagine.validation_errors import messages_for
from imagine.webhooks import repository as webhooks_repo
from imagine.webhooks.delivery import DeliveryWorker

log = structlog.get_logger(__name__)


def _error(status: int, messages: list[str], task_id: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"errors": [{"msg": m} for m in messages]} if messages else {}
    if task_id is not None:
        body["task_id"] = task_id
    return JSONResponse(body, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to the contract's shape, in one place."""

    @app.exception_handler(ImagineError)
    async def _domain(_request: Request, exc: ImagineError) -> JSONResponse:
        return _error(exc.status, exc.messages)

    @app.exception_handler(AdmittedTaskFailed)
    async def _admitted(_request: Request, exc: AdmittedTaskFailed) -> JSONResponse:
        return _error(exc.error.status, exc.error.messages, exc.task_id)

    @app.exception_handler(AdmittedTaskCrashed)
    async def _crashed(_request: Request, exc: AdmittedTaskCrashed) -> JSONResponse:
        return _error(500, [], exc.task_id)

    @app.exception_handler(ClientGone)
    async def _gone(_request: Request, _exc: ClientGone) -> Response:
        return Response(status_code=499)  # nobody is listening; for access logs only

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        content_type = request.headers.get("content-type", "").lower()
        return _error(400, messages_for(exc.errors(), json_body="json" in content_type))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 401:
            return _error(401, [])
        if isinstance(exc.__cause__, BodyTooLarge):
            return _error(413, ["request body is too large"])
        reason = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code)
        return _error(exc.status_code, [reason or str(exc.detail)])

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", error=type(exc).__name__)
        return _error(500, [])


async def purge_webhook_history(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, retention: timedelta
) -> int:
    """Forget settled webhook deliveries older than `retention`, in batches."""
    cutoff = clock.now() - retention
    total = 0
    while True:
        async with sessions.begin() as session:
            removed = await webhooks_repo.purge_settled(session, settled_before=cutoff)
        total += removed
        if removed == 0:
            return total


async def background_sweeps(services: Services) -> None:
    """Sweep expired outputs and orphaned reservations until cancelled."""
    while True:
        try:
            await recover_orphans(
                services.sessions, services.clock, services.settings.reservation_timeout
            )
            await sweep_expired(services.sessions, services.store, services.clock)
            await purge_webhook_history(
                services.sessions, services.clock, services.settings.webhook_retention
            )
        except Exception:
            log.exception("background sweep failed")
        await anyio.sleep(services.settings.sweep_interval)


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """Build the ASGI app; pass `services` to inject fakes (clock, store, client)."""
    settings = settings or (services.settings if services else Settings())
    svc = services or build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await upgrade(svc.db)
        log_routes(svc.routes)
        async with anyio.create_task_group() as tg:
            if settings.run_worker_in_process:
                tg.start_soon(background_sweeps, svc)
                tg.start_soon(DeliveryWorker(svc).run)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
        await svc.close()

    app = FastAPI(
        title="imagine",
        version=__version__,
        description="Self-hostable image-editing API (FLUX.1 Kontext contract).",
        lifespan=lifespan,
    )
    app.state.services = svc
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)

    async def lookup(key: str) -> Account | None:
        async with svc.sessions() as session:
            return await accounts_repo.account_for_key(session, key)

    # Added last, so it runs first: no body is read for a request without a valid key.
    app.add_middleware(AuthGateMiddleware, lookup=lookup)
    app.include_router(tasks_router)
    app.include_router(accounts_router)
    app.include_router(files_router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics of this process."""
        return Response(svc.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    return app
