"""Builds the diffusers engine from settings: load, switches, optional warm-up."""

from __future__ import annotations

import structlog

from imagine.gpu.engine import DiffusersEngine, EngineLimits
from imagine.gpu.runner import KontextConfig, KontextRunner
from imagine.settings import Settings

log = structlog.get_logger(__name__)


def kontext_config(settings: Settings) -> KontextConfig:
    """The runner's configuration from `IMAGINE_DIFFUSERS_*` settings."""
    assert settings.diffusers_model is not None
    return KontextConfig(
        source=settings.diffusers_model,
        device=settings.diffusers_device,
        steps=settings.diffusers_steps,
        guidance=settings.diffusers_guidance,
        max_sequence_length=settings.diffusers_max_sequence_length,
        compile=settings.diffusers_compile,
        first_block_cache=settings.diffusers_first_block_cache,
        fp8=settings.diffusers_fp8,
        cpu_offload=settings.diffusers_cpu_offload,
    )


def build_diffusers_engine(settings: Settings) -> DiffusersEngine:
    """Load the configured pipeline once (ModelLoadError when it cannot be)."""
    runner = KontextRunner.load(kontext_config(settings))
    warm = settings.diffusers_warmup
    if warm is None:
        warm = settings.diffusers_compile
    if warm:
        seconds = runner.warm_up()
        log.info("FLUX.1 Kontext warm-up generation done", seconds=round(seconds, 2))
    return DiffusersEngine(
        runner,
        EngineLimits(
            queue_timeout=settings.diffusers_queue_timeout,
            deadline=settings.diffusers_deadline,
            max_image_pixels=settings.max_image_pixels,
        ),
    )
