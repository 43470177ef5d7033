"""FLUX.1 Kontext [dev] through `diffusers.FluxKontextPipeline`: load once, generate.

Everything torch-dependent lives here; the async engine (`gpu.engine`) only calls
`KontextRunner.generate` on a worker thread. Nothing here downloads: weights come from a
local diffusers-format directory or a repo id already in the local Hugging Face cache.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import torch
from PIL import Image

log = structlog.get_logger(__name__)

ProgressFn = Callable[[float], None]
StopFn = Callable[[], bool]


class ModelLoadError(Exception):
    """The configured model could not be loaded (missing, incomplete, wrong format)."""


class GenerationStopped(Exception):
    """The denoising loop was stopped between two steps (`should_stop` said so)."""


@dataclass(frozen=True)
class KontextConfig:
    """How to load and run the pipeline (from settings; every speed switch off by default)."""

    source: str
    device: str = "auto"  # auto: cuda when available, else cpu
    steps: int = 28
    guidance: float = 2.5
    max_sequence_length: int = 512
    compile: bool = False
    first_block_cache: float = 0.0  # residual-difference threshold; 0 is off
    fp8: bool = False
    cpu_offload: bool = False


def resolve_device(asked: str) -> torch.device:
    """The torch device for `asked` ("auto", "cuda", "cuda:1", "cpu")."""
    if asked == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(asked)


def _load_pipeline(config: KontextConfig, device: torch.device) -> Any:
    from diffusers import FluxKontextPipeline

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    source = config.source
    if Path(source).expanduser().exists():
        source = str(Path(source).expanduser())
    try:
        # local_files_only: a directory, or a repo id already in the local cache; never a
        # download at run time.
        pipe = FluxKontextPipeline.from_pretrained(  # type: ignore[no-untyped-call]
            source, dtype=dtype, local_files_only=True
        )
    except Exception as exc:
        raise ModelLoadError(
            f"could not load a FLUX.1 Kontext pipeline from {config.source!r}"
            f" ({type(exc).__name__}: {exc})"
        ) from exc
    return pipe


def _apply_switches(pipe: Any, config: KontextConfig, device: torch.device) -> None:
    if config.fp8:
        try:
            from torchao.quantization import (  # type: ignore[import-not-found]
                Float8WeightOnlyConfig,
                quantize_,
            )
        except ImportError as exc:
            raise ModelLoadError("IMAGINE_DIFFUSERS_FP8 needs torchao installed") from exc
        quantize_(pipe.transformer, Float8WeightOnlyConfig())
    if config.first_block_cache > 0:
        from diffusers import FirstBlockCacheConfig

        cache = FirstBlockCacheConfig(threshold=config.first_block_cache)  # type: ignore[no-untyped-call]
        pipe.transformer.enable_cache(cache)
    if config.cpu_offload and device.type == "cuda":
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if config.compile:
        pipe.transformer.compile(mode="max-autotune-no-cudagraphs", dynamic=False)
    pipe.set_progress_bar_config(disable=True)


class KontextRunner:
    """One loaded pipeline on one device; `generate` is blocking (call it on a thread)."""

    def __init__(self, pipe: Any, device: torch.device, config: KontextConfig) -> None:
        self.pipe = pipe
        self.device = device
        self.config = config
        self._lock = threading.Lock()
        # Denoising steps run since start: proof for operators (and tests) that a cancelled
        # generation really stopped.
        self.steps_run = 0

    @classmethod
    def load(cls, config: KontextConfig) -> KontextRunner:
        """Load the pipeline and apply the configured speed switches (ModelLoadError)."""
        device = resolve_device(config.device)
        started = time.perf_counter()
        pipe = _load_pipeline(config, device)
        try:
            _apply_switches(pipe, config, device)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"could not prepare the pipeline ({type(exc).__name__}: {exc})"
            ) from exc
        log.info(
            "FLUX.1 Kontext pipeline loaded",
            source=config.source,
            device=str(device),
            seconds=round(time.perf_counter() - started, 2),
        )
        return cls(pipe, device, config)

    def generate(
        self,
        image: Image.Image,
        prompt: str,
        *,
        width: int,
        height: int,
        seed: int,
        steps: int | None = None,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> Image.Image:
        """Edit `image` (already at width×height) per `prompt`; GenerationStopped if asked."""
        total = steps or self.config.steps

        def on_step_end(
            _pipe: Any, step: int, _timestep: Any, _kwargs: dict[str, Any]
        ) -> dict[str, Any]:
            self.steps_run += 1
            if progress is not None:
                progress((step + 1) / total)
            if should_stop is not None and should_stop():
                raise GenerationStopped()
            return {}

        generator = torch.Generator(device="cpu").manual_seed(seed)
        with self._lock, torch.inference_mode(), self._cache_context():
            output = self.pipe(
                image=image,
                prompt=prompt,
                width=width,
                height=height,
                num_inference_steps=total,
                guidance_scale=self.config.guidance,
                generator=generator,
                max_sequence_length=self.config.max_sequence_length,
                callback_on_step_end=on_step_end,
                _auto_resize=False,
                max_area=width * height,
            )
        result: Image.Image = output.images[0]
        return result

    def _cache_context(self) -> contextlib.AbstractContextManager[Any]:
        """First Block Cache needs a cache context around the denoiser calls, which
        FluxKontextPipeline (unlike FluxPipeline) does not set: one per generation, from a
        fresh state (Kontext runs no unconditional branch at true_cfg_scale 1)."""
        if self.config.first_block_cache <= 0:
            return contextlib.nullcontext()
        self.pipe.transformer._reset_stateful_cache()
        context: contextlib.AbstractContextManager[Any] = self.pipe.transformer.cache_context(
            "cond"
        )
        return context

    def warm_up(self, width: int = 1024, height: int = 1024, steps: int = 2) -> float:
        """One small generation so the first request does not pay compilation; seconds."""
        started = time.perf_counter()
        self.generate(
            Image.new("RGB", (width, height), (128, 128, 128)),
            "warm up",
            width=width,
            height=height,
            seed=0,
            steps=steps,
        )
        return time.perf_counter() - started
