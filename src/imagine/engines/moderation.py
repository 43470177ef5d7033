"""Content safety for engines that have no provider moderation of their own (offline, local
GPU): an NSFW classifier scores the input and the output; `flag` adds a warning, `block`
fails the task with 422 Content policy violation (released, not charged, like a provider's
moderation)."""

from __future__ import annotations

from typing import Literal

import anyio.to_thread
import numpy as np
from PIL import Image

from imagine.engines.base import EditOptions, EditResult, Engine
from imagine.engines.offline.vision.base import SafetyClassifier
from imagine.errors import ContentPolicyViolation

SafetyMode = Literal["flag", "block"]


class ModeratedEngine:
    """Wraps an engine: scores its input before and its output after (on a worker thread)."""

    def __init__(
        self, inner: Engine, classifier: SafetyClassifier, mode: SafetyMode, threshold: float
    ) -> None:
        self.inner = inner
        self._classifier = classifier
        self._mode = mode
        self._threshold = threshold

    uses_source = False  # it needs the pixels it scores

    async def _check(self, image: Image.Image, which: str) -> str | None:
        rgb = np.asarray(image.convert("RGB"), np.uint8)
        score = await anyio.to_thread.run_sync(self._classifier.score, rgb)
        if score < self._threshold:
            return None
        if self._mode == "block":
            raise ContentPolicyViolation()
        return f"safety check flagged the {which} image as possibly not safe for work ({score:.2f})"

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        """The inner engine's edit, with the input and output checked."""
        flagged = [note for note in [await self._check(image, "input")] if note]
        result = await self.inner.edit(image, prompt, options)
        note = await self._check(await result.pixels(), "output")
        result.warnings.extend([*flagged, *([note] if note else [])])
        return result
