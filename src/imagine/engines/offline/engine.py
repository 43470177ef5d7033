"""OfflineEngine: runs the instruction renderer off the event loop."""

from __future__ import annotations

import anyio.to_thread
from PIL import Image

from imagine.engines.base import EditOptions, EditResult
from imagine.engines.offline.render import render


class OfflineEngine:
    """Applies the edits it recognises in the instruction; warns about the rest."""

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        """Edit on a worker thread so the event loop stays responsive."""
        edited, warnings = await anyio.to_thread.run_sync(render, image, prompt, options.seed)
        return EditResult(image=edited, warnings=warnings, engine="offline")
