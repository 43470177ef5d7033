"""OfflineEngine: runs the instruction renderer off the event loop, cancellably."""

from __future__ import annotations

import threading
from functools import partial

import anyio
import anyio.to_thread
from PIL import Image

from imagine.engines.base import EditOptions, EditResult
from imagine.engines.offline.placeholder import PLACEHOLDER_NOTICE, render_placeholder
from imagine.engines.offline.render import RenderCancelled, render_report
from imagine.engines.offline.vision.base import Vision

__all__ = ["OfflineEngine", "RenderCancelled"]


# Every offline edit says so: a client asked for a FLUX model and must know it did not get one.
OFFLINE_NOTICE = (
    "served by the offline engine: classical image processing, not the requested FLUX model"
)


class OfflineEngine:
    """Applies the edits it recognises in the instruction; warns about the rest. With
    `vision` (the detection and segmentation models) it edits the objects it finds; without,
    GrabCut guesses the subject."""

    def __init__(self, vision: Vision | None = None) -> None:
        self.vision = vision

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        """Edit on a worker thread so the event loop stays responsive.

        The render checks a stop flag between edits: `options.cancel` when given, else a
        private one. Cancelling this call (the client left, shutdown) sets the flag and
        returns at once; the thread stops before its next edit. A flag set by the caller
        without cancelling makes this raise RenderCancelled.
        """
        if not options.has_input:
            card = await anyio.to_thread.run_sync(
                render_placeholder, prompt, options.width, options.height
            )
            # Nothing was generated: a placeholder is not charged (as an edit that applied
            # nothing), and says so.
            return EditResult(
                image=card,
                warnings=[OFFLINE_NOTICE, PLACEHOLDER_NOTICE],
                engine="offline",
                nothing_applied=True,
            )
        stop = options.cancel if options.cancel is not None else threading.Event()
        work = partial(render_report, image, prompt, options.seed, stop.is_set, self.vision)
        if options.progress is not None:
            work = partial(work, progress=options.progress)
        try:
            done = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            stop.set()
            raise
        return EditResult(
            image=done.image,
            warnings=[OFFLINE_NOTICE, *done.warnings],
            engine="offline",
            applied=done.applied,
            nothing_applied=not done.applied,
        )
