"""create_app(settings): wiring only — middleware, routers, error handlers, lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import anyio
import anyio.to_thread
from fastapi import FastAPI

from imagine import __version__
from imagine.accounts import repository as accounts_repo
from imagine.accounts.key_cache import CachedKeyLookup
from imagine.accounts.routes import router as accounts_router
from imagine.background import run_background
from imagine.db.migrate import upgrade
from imagine.db.schema import Account
from imagine.engines.readiness import ProviderReadiness
from imagine.engines.registry import HOSTED, log_routes
from imagine.engines.routes import router as models_router
from imagine.http.auth import AuthGateMiddleware
from imagine.http.body_limit import BodyLimitMiddleware
from imagine.http.deps import Edge
from imagine.http.docs import install_docs
from imagine.http.errors import OPENAI_PREFIX, error_body, install_error_handlers
from imagine.http.headers import ApiHeadersMiddleware
from imagine.http.openapi import install_openapi
from imagine.http.ops import router as ops_router
from imagine.openai_compat.routes import router as openai_router
from imagine.playground.routes import playground_router
from imagine.services import (
    Services,
    build_idempotency,
    build_pipeline,
    build_services,
    build_uploads,
)
from imagine.settings import Settings
from imagine.storage.routes import router as files_router
from imagine.tasks.background_edits import BackgroundEdits
from imagine.tasks.routes import router as tasks_router
from imagine.uploads.routes import router as uploads_router


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    on_started: Callable[[], None] | None = None,
) -> FastAPI:
    """Build the ASGI app; pass `services` to inject fakes (clock, store, client), and
    `on_started` for what the serving process does once start-up is complete."""
    settings = settings or (services.settings if services else Settings())
    svc = services or build_services(settings)
    # Async edits (Prefer: respond-async) run here, owned by the lifespan, not the request.
    background = BackgroundEdits(
        max_running=settings.max_background_edits, grace=settings.async_shutdown_grace
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Every blocking step (decode, encode, render, file I/O) shares this pool.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        await upgrade(svc.db)
        log_routes(svc.routes)
        async with anyio.create_task_group() as tg:
            if settings.run_worker_in_process:
                tg.start_soon(run_background, svc)
            try:
                async with background.serving():
                    if on_started is not None:
                        on_started()
                    yield
            finally:
                tg.cancel_scope.cancel()
        await svc.close()

    app = FastAPI(
        title="imagine",
        version=__version__,
        description="Self-hostable image-editing API (FLUX.1 Kontext contract).",
        lifespan=lifespan,
        docs_url=None,  # install_docs serves /docs and /redoc without a CDN
        redoc_url=None,
    )
    uploads = build_uploads(svc)
    app.state.edge = Edge(
        sessions=svc.read_sessions,
        clock=svc.clock,
        store=svc.store,
        pipeline=build_pipeline(svc, uploads=uploads, background=background),
        models=list(svc.routes.values()),
        metrics=svc.metrics,
        public_url=settings.resolved_public_url(),
        uploads=uploads,
        idempotency=build_idempotency(svc),
        metrics_token=(
            settings.metrics_token.get_secret_value() if settings.metrics_token else None
        ),
        providers=ProviderReadiness(
            settings, list(HOSTED.values()), svc.clients.provider, svc.clock
        ),
    )
    install_error_handlers(app)
    install_openapi(app, models=sorted(svc.catalog))
    install_docs(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        timeout=settings.body_timeout,
        shape=error_body,
    )

    async def lookup(key: str) -> Account | None:
        async with svc.read_sessions() as session:
            return await accounts_repo.account_for_key(session, key)

    # Added last, so it runs first: no body is read for a request without a valid key.
    app.add_middleware(
        AuthGateMiddleware,
        lookup=CachedKeyLookup(lookup, svc.clock, settings.auth_cache_ttl),
        max_uploads=settings.max_uploads_per_account,
        prefixes=("/api/", OPENAI_PREFIX),
        shape=error_body,
    )
    # Outermost: every API answer says it is not to be cached or sniffed.
    app.add_middleware(ApiHeadersMiddleware)
    for router in (
        tasks_router,
        uploads_router,
        accounts_router,
        models_router,
        files_router,
        ops_router,
        openai_router,
    ):
        app.include_router(router)
    if settings.playground:
        app.include_router(playground_router(settings.resolved_public_url()))
    return app
