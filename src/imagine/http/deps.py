"""FastAPI dependencies: each route asks for exactly the collaborator it uses."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.clock import Clock
from imagine.db.schema import Account
from imagine.engines.readiness import ProviderReadiness
from imagine.engines.registry import ModelRoute
from imagine.errors import NotFound, Unauthorized
from imagine.http.auth import authenticated_account
from imagine.idempotency.guard import IdempotencyGuard
from imagine.metrics import Metrics
from imagine.storage.store import Store
from imagine.tasks.pipeline import EditPipeline
from imagine.uploads.service import Uploads


@dataclass(frozen=True)
class Edge:
    """What the routes use, built once by the composition root (app.state.edge)."""

    sessions: async_sessionmaker[AsyncSession]  # reads only (no write lock on SQLite)
    clock: Clock
    store: Store
    pipeline: EditPipeline
    models: Sequence[ModelRoute]
    metrics: Metrics
    public_url: str
    uploads: Uploads
    idempotency: IdempotencyGuard
    metrics_token: str | None = None  # when set, /metrics wants `Bearer <token>`
    providers: ProviderReadiness | None = None  # GET /providers (operators, metrics token)


def _edge(request: Request) -> Edge:
    edge: Edge = request.app.state.edge
    return edge


async def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return _edge(request).sessions


async def _clock(request: Request) -> Clock:
    return _edge(request).clock


async def _store(request: Request) -> Store:
    return _edge(request).store


async def _pipeline(request: Request) -> EditPipeline:
    return _edge(request).pipeline


async def _models(request: Request) -> Sequence[ModelRoute]:
    return _edge(request).models


async def metrics_access(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <metrics token>")] = None,
) -> Metrics:
    """The metrics registry, if the metrics token (when one is configured) was presented."""
    edge = _edge(request)
    if edge.metrics_token is not None:
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), edge.metrics_token.encode()):
            raise Unauthorized()
    return edge.metrics


async def providers_access(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <metrics token>")] = None,
) -> ProviderReadiness:
    """The providers' view, for the metrics token only: without a token configured the
    route does not exist (404), as account balances are not for anyone who asks."""
    edge = _edge(request)
    if edge.metrics_token is None or edge.providers is None:
        raise NotFound("Not found")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), edge.metrics_token.encode()):
        raise Unauthorized()
    return edge.providers


async def _public_url(request: Request) -> str:
    return _edge(request).public_url


async def _idempotency(request: Request) -> IdempotencyGuard:
    return _edge(request).idempotency


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
ClockDep = Annotated[Clock, Depends(_clock)]
StoreDep = Annotated[Store, Depends(_store)]
PipelineDep = Annotated[EditPipeline, Depends(_pipeline)]
ModelsDep = Annotated[Sequence[ModelRoute], Depends(_models)]
MetricsDep = Annotated[Metrics, Depends(metrics_access)]
ProvidersDep = Annotated[ProviderReadiness, Depends(providers_access)]
PublicUrlDep = Annotated[str, Depends(_public_url)]
AccountDep = Annotated[Account, Depends(authenticated_account)]
IdempotencyDep = Annotated[IdempotencyGuard, Depends(_idempotency)]
