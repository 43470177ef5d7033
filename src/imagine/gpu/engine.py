"""DiffusersEngine: FLUX.1 Kontext [dev] on a local GPU behind the `Engine` interface.

One generation at a time per GPU: requests wait in the fair queue of `engines.limiter`
(bounded wait, then 429 like the provider limiters). The denoising runs on a worker thread;
a cancelled request (client gone without a webhook, shutdown) or the deadline stops it
between two steps, and the GPU slot is given back only once the thread has stopped.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from dataclasses import dataclass

import anyio
import anyio.from_thread
import anyio.to_thread
import structlog
from PIL import Image

from imagine import images
from imagine.engines.base import EditOptions, EditResult
from imagine.engines.limiter import Limiter
from imagine.errors import UpstreamFailed, UpstreamTimeout
from imagine.gpu.runner import GenerationStopped, KontextRunner
from imagine.gpu.sizes import size_for

log = structlog.get_logger(__name__)

SERVED_MODEL = "flux-kontext-dev"
SERVED_NAME = "FLUX.1 Kontext [dev]"


@dataclass(frozen=True)
class EngineLimits:
    """Waiting and running bounds of one GPU."""

    queue_timeout: float = 30.0  # seconds in the fair queue before 429
    deadline: float = 300.0  # seconds of denoising before 504
    max_image_pixels: int = 40_000_000


def served_by_warning(asked_model: str) -> list[str]:
    """The `warnings` entry when a model is served by another model than its name says."""
    if asked_model == SERVED_MODEL:
        return []
    return [f"{asked_model} was served by {SERVED_NAME} ({SERVED_MODEL}) on a local GPU"]


def _prepare_input(
    image: Image.Image | None, source: bytes | None, size: tuple[int, int], max_pixels: int
) -> Image.Image:
    if source is not None:
        image = images.decode(source, max_pixels=max_pixels, draft_size=size)
    assert image is not None
    # Crop to cover the trained size (never stretch), the way Kontext saw its inputs.
    return images.cover(image.convert("RGB"), *size)


class DiffusersEngine:
    """Edits with a loaded `KontextRunner`; returns pixels at the model's native size."""

    # Takes EditOptions.source bytes: the input is cropped once, to the trained size, and
    # the output is stored at that size without resampling.
    uses_source = True

    def __init__(self, runner: KontextRunner, limits: EngineLimits, name: str = "diffusers"):
        self.runner = runner
        self.limits = limits
        self.name = name
        self.gpu = Limiter(1, f"{name}:gpu")

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        """Queue for the GPU, then generate off the event loop."""
        await self.gpu.acquire(self.limits.queue_timeout)
        try:
            data = options.source.data if options.source is not None else None
            picture = await self.generate(image, data, prompt, options)
        finally:
            self.gpu.release()
        return EditResult(
            image=picture, warnings=served_by_warning(options.model), engine=self.name
        )

    async def generate(
        self, image: Image.Image | None, data: bytes | None, prompt: str, options: EditOptions
    ) -> Image.Image:
        """Generate from `image`, or from encoded `data` when given (the caller holds the
        GPU slot, `self.gpu`)."""
        size = size_for(options.aspect_ratio)
        if image is None and data is None:
            raise ValueError("generate needs an image or its encoded bytes")
        prepared = await anyio.to_thread.run_sync(
            _prepare_input, image, data, size, self.limits.max_image_pixels
        )
        del data
        if options.source is not None:
            options.source.release()  # the pixels are all we need now
        stop = threading.Event()
        deadline = time.monotonic() + self.limits.deadline
        asked = options.cancel

        def should_stop() -> bool:
            return (
                stop.is_set()
                or (asked is not None and asked.is_set())
                or time.monotonic() > deadline
            )

        seed = options.seed if options.seed is not None else random.randrange(2**32)
        work = functools.partial(
            self.runner.generate,
            prepared,
            prompt,
            width=size[0],
            height=size[1],
            seed=seed,
            progress=options.progress,
            should_stop=should_stop,
        )
        done = anyio.Event()

        def job() -> Image.Image:
            try:
                return work()
            finally:
                anyio.from_thread.run_sync(done.set)

        try:
            return await anyio.to_thread.run_sync(job, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            # Stop the loop at its next step and keep the GPU slot until it has.
            stop.set()
            with anyio.CancelScope(shield=True):
                await done.wait()
            log.info("generation cancelled", steps_run=self.runner.steps_run)
            raise
        except GenerationStopped:
            if time.monotonic() > deadline:
                raise UpstreamTimeout(
                    f"The local model did not finish within {self.limits.deadline:g} s"
                ) from None
            raise UpstreamFailed("Generation cancelled") from None
        except Exception as exc:
            log.exception("local generation failed", engine=self.name)
            raise UpstreamFailed(f"The local model failed ({type(exc).__name__})") from exc
