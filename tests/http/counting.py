"""An engine wrapper that counts calls (and can be slow or fail), around a real engine."""

from __future__ import annotations

import anyio
from PIL import Image

from imagine.engines.base import EditOptions, EditResult, Engine
from imagine.errors import ImagineError


class CountingEngine:
    """Delegates to `inner` (the offline engine), counting calls; `delay` seconds first,
    and `fail_with` raised instead of editing while it is set."""

    def __init__(self, inner: Engine, delay: float = 0.0) -> None:
        self.inner = inner
        self.delay = delay
        self.calls = 0
        self.fail_with: ImagineError | None = None

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        """Count, wait, then edit with the real engine (or fail)."""
        self.calls += 1
        if self.delay:
            await anyio.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        return await self.inner.edit(image, prompt, options)
