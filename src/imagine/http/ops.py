"""Operations routes: liveness, Prometheus metrics, the hosted providers' state."""

from __future__ import annotations

from fastapi import APIRouter, Response

from imagine.engines.schemas import ProviderInfo, ProvidersResponse
from imagine.http import openapi
from imagine.http.deps import MetricsDep, ProvidersDep
from imagine.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


@router.get("/metrics", response_class=Response)
async def metrics(registry: MetricsDep) -> Response:
    """Prometheus metrics of this process."""
    return Response(registry.render(), media_type=METRICS_CONTENT_TYPE)


@router.get("/providers", response_model=ProvidersResponse, responses=openapi.PROVIDERS)
async def providers(readiness: ProvidersDep) -> ProvidersResponse:
    """Each hosted provider: key set, reachable, balance (BFL credits), asked with a short
    timeout and kept 30 s. Informational: a provider that is down or out of credits is
    reported here, never a failure of this service (`ready` is always true)."""
    states = await readiness.states()
    return ProvidersResponse(
        ready=True, providers=[ProviderInfo.model_validate(s.public()) for s in states]
    )
