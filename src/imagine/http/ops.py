"""Operations routes: liveness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from imagine.http.deps import MetricsDep
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
