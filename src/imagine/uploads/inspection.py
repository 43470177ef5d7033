"""Check uploaded bytes exactly like a fetched input: sniffed format, pixel cap, full decode."""

from __future__ import annotations

from dataclasses import dataclass

from imagine import images
from imagine.errors import ImageRejected
from imagine.image_header import sniff

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


@dataclass(frozen=True)
class Inspected:
    """What an accepted upload is: its real type and its (EXIF-oriented) size."""

    content_type: str
    extension: str
    width: int
    height: int


def inspect_upload(data: bytes, *, max_pixels: int, field: str = "file") -> Inspected:
    """Sniff and decode `data` with the input guards (bombs, pixel cap, corrupt files);
    ImageRejected names `field` (CPU-bound: call off the event loop)."""
    try:
        header = sniff(data)
        decoded = images.decode(data, max_pixels=max_pixels)
    except ImageRejected as exc:
        raise ImageRejected(*(_renamed(m, field) for m in exc.messages)) from exc
    return Inspected(
        content_type=CONTENT_TYPES[header.format],
        extension=EXTENSIONS[header.format],
        width=decoded.width,
        height=decoded.height,
    )


def _renamed(message: str, field: str) -> str:
    # The guards speak of image_url (the usual input); an upload's problem is its file.
    if message.startswith("image_url returned an empty body"):
        return f"{field} is empty"
    return field + message.removeprefix("image_url") if message.startswith("image_url") else message
