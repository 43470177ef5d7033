"""`imagine gpu serve --no-ray`: the worker app on one GPU under plain uvicorn."""

from __future__ import annotations

import structlog
import typer
import uvicorn

from imagine.gpu.build import build_diffusers_engine
from imagine.gpu.runner import ModelLoadError
from imagine.gpu.worker import create_worker_app
from imagine.settings import Settings

log = structlog.get_logger(__name__)


def run_standalone(settings: Settings) -> None:
    """Load the model, then serve until interrupted (exit 1 when the model cannot load)."""
    assert settings.gpu_worker_token is not None
    try:
        engine = build_diffusers_engine(settings)
    except ModelLoadError as exc:
        log.error("GPU worker cannot start: model not loaded", reason=str(exc))
        raise typer.Exit(1) from exc
    app = create_worker_app(engine, settings.gpu_worker_token)
    log.info(
        "GPU worker listening",
        host=settings.gpu_worker_host,
        port=settings.gpu_worker_port,
        ray=False,
    )
    uvicorn.run(
        app,
        host=settings.gpu_worker_host,
        port=settings.gpu_worker_port,
        log_level="warning",
        access_log=False,
    )
