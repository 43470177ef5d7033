"""The engine interface: one method, `edit(image, prompt, options) -> EditResult`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import anyio.to_thread
from PIL import Image

from imagine.images import ImageInfo


class SourceImage:
    """The input as encoded bytes a provider may take as they are (see `uses_source`).

    Once a provider has accepted the task, nothing needs the bytes again (failover only
    happens before acceptance): the engine calls `release()`, so a request held while the
    provider works keeps no copy of the input.
    """

    def __init__(self, data: bytes, info: ImageInfo) -> None:
        self._data: bytes | None = data
        self.info = info
        self._on_release: Callable[[], None] | None = None

    def when_released(self, callback: Callable[[], None]) -> None:
        """Call `callback` once, when the bytes are dropped (the provider has them)."""
        self._on_release = callback

    @property
    def data(self) -> bytes:
        """The bytes (an error once released: a second upload would be a bug)."""
        if self._data is None:
            raise RuntimeError("the source image was released after the provider accepted it")
        return self._data

    def release(self) -> None:
        """Drop the bytes (the provider has them)."""
        self._data = None
        callback, self._on_release = self._on_release, None
        if callback is not None:
            callback()

    def __repr__(self) -> str:
        held = "released" if self._data is None else f"{len(self._data)} bytes"
        return f"SourceImage({self.info.format}, {held})"


@dataclass
class Receipt:
    """What a provider reported about one accepted task (internal bookkeeping only)."""

    cost: float | None = None  # the provider's own figure (BFL: its credits)


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
    # The input's bytes (original or one fast transcode, engines.payload.prepare_source).
    # An engine with `uses_source` then uploads these and ignores `image`, and returns the
    # provider's validated bytes in EditResult.data instead of decoded pixels.
    source: SourceImage | None = field(default=None, repr=False, compare=False)
    # An engine that knows how far along it is (a local model's denoising steps) may call
    # this with a fraction in [0, 1], from any thread, as often as it likes; the pipeline
    # turns it into the task's `percentage` (throttled writes). None: nobody is listening.
    progress: Callable[[float], None] | None = field(default=None, compare=False, repr=False)
    # More input images after the first, in the client's order (multi-reference models);
    # an engine that takes one image only is never given any (the pipeline refuses them).
    references: tuple[SourceImage, ...] = field(default=(), repr=False, compare=False)
    # False for text-to-image: no input at all (`image` is then a blank of the output size).
    has_input: bool = True
    # Optional model tuning the request gave (catalog `params`: guidance, steps,
    # prompt_upsampling), only for models that declare them; engines map the names.
    params: Mapping[str, float | int | bool] = field(
        default_factory=dict, repr=False, compare=False
    )
    # Filled by a hosted engine once the provider accepted the task (its reported cost).
    receipt: Receipt = field(default_factory=Receipt, repr=False, compare=False)


class EditResult:
    """The edited image plus human-readable notes for the response's `warnings`.

    An engine gives pixels (`image`), or encoded bytes as a provider returned them (`data`,
    `format` "png"/"jpeg"/"webp", already validated, at the provider's native size). With
    bytes only, `image` decodes them on first use (CPU-bound: prefer `await pixels()`).

    `applied` names the edits an engine that knows them actually made (the offline engine;
    hosted models leave it empty). `nothing_applied` says the image is the input unchanged
    (nothing in the prompt could be done): the edit is then not charged.
    """

    def __init__(
        self,
        image: Image.Image | None = None,
        warnings: list[str] | None = None,
        engine: str = "",
        *,
        data: bytes | None = None,
        format: str | None = None,
        applied: list[str] | None = None,
        nothing_applied: bool = False,
    ) -> None:
        if image is None and data is None:
            raise ValueError("an EditResult needs an image or its encoded bytes")
        self._image = image
        self.warnings: list[str] = warnings if warnings is not None else []
        self.engine = engine
        self.data = data
        self.format = format
        self.applied: list[str] = applied if applied is not None else []
        self.nothing_applied = nothing_applied
        # What the provider says the task cost it (internal: recorded, never shown).
        self.upstream_cost: float | None = None

    @property
    def image(self) -> Image.Image:
        """The pixels (decoded from `data` on first use when the engine gave bytes)."""
        if self._image is None:
            from imagine.engines.payload import decode_bytes

            assert self.data is not None
            self._image = decode_bytes(self.data)
        return self._image

    @image.setter
    def image(self, value: Image.Image) -> None:
        self._image = value

    def passes_through(self, output_format: str) -> bool:
        """True when `data` can be stored as it is for `output_format` (no re-encode)."""
        return self.data is not None and self.format == output_format

    async def pixels(self) -> Image.Image:
        """`image`, decoded on a worker thread when needed."""
        if self._image is not None:
            return self._image
        return await anyio.to_thread.run_sync(lambda: self.image)

    def __repr__(self) -> str:
        what = f"{len(self.data)} {self.format} bytes" if self.data is not None else "pixels"
        return f"EditResult(engine={self.engine!r}, {what}, warnings={self.warnings!r})"


class Engine(Protocol):
    """Edits an already prepared RGB image (sized for the aspect ratio) per an instruction.

    Raises imagine.errors.ImagineError subclasses (ContentPolicyViolation, UpstreamFailed,
    UpstreamUnavailable, UpstreamTimeout) for failures the client should see.
    """

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        """Return the edited image."""
        ...


def uses_source(engine: object) -> bool:
    """True for an engine that works from `EditOptions.source` bytes and needs no pixels
    (hosted providers): the caller may skip decoding and pass `placeholder_image()`."""
    return bool(getattr(engine, "uses_source", False))


def release_source(options: EditOptions) -> None:
    """Drop the input bytes (source and references) once a provider has accepted the task."""
    if options.source is not None:
        options.source.release()
    for reference in options.references:
        reference.release()


def placeholder_image() -> Image.Image:
    """The `image` to pass an engine that `uses_source` when `options.source` is set."""
    return Image.new("RGB", (1, 1))
