"""The engine interface: one method, `edit(image, prompt, options) -> EditResult`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal, Protocol

from PIL import Image


@dataclass(frozen=True)
class EditOptions:
    """What the request asked for, beyond the prompt."""

    model: str
    aspect_ratio: str
    width: int
    height: int
    seed: int | None = None
    output_format: Literal["png", "jpeg"] = "png"
    # Set it to ask an engine doing CPU work on a thread (offline) to stop at its next
    # checkpoint. Cancelling the awaiting task sets it too, so callers rarely need it.
    cancel: threading.Event | None = field(default=None, compare=False, repr=False)


@dataclass
class EditResult:
    """The edited image plus human-readable notes for the response's `warnings`."""

    image: Image.Image
    warnings: list[str] = field(default_factory=list)
    engine: str = ""


class Engine(Protocol):
    """Edits an already prepared RGB image (sized for the aspect ratio) per an instruction.

    Raises imagine.errors.ImagineError subclasses (ContentPolicyViolation, UpstreamFailed,
    UpstreamUnavailable, UpstreamTimeout) for failures the client should see.
    """

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        """Return the edited image."""
        ...
