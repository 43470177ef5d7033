"""Decode with an allow-list of formats, a bomb guard and EXIF orientation (CPU-bound)."""

from __future__ import annotations

import contextlib
import io
import os
import struct

from PIL import Image, ImageOps, UnidentifiedImageError

from imagine.errors import ImageRejected
from imagine.image_header import check_pixels, sniff

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")


def decode(
    data: bytes, *, max_pixels: int, draft_size: tuple[int, int] | None = None
) -> Image.Image:
    """Decode an allowed format, refuse bombs before allocating, apply EXIF orientation.

    `draft_size` lets a big JPEG decode at 1/2, 1/4 or 1/8 scale while staying at least
    that size on both sides (the DCT does the downscaling almost for free).
    """
    header = sniff(data)
    check_pixels(header.width, header.height, max_pixels)
    try:
        # Our cap ran on the header, so Pillow's own bomb check (a process-wide limit) only
        # fires when the two disagree; no warnings filter here: it is not thread-safe.
        img = Image.open(io.BytesIO(data), formats=[header.format])
        check_pixels(*img.size, max_pixels)  # GIF frames may be bigger than the screen
        if header.format == "JPEG" and draft_size is not None:
            side = max(draft_size)  # orientation may swap the sides: keep both covered
            img.draft(img.mode, (side, side))
        img.load()
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected(f"image_url is not a valid {header.format} image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("image_url image is too large to decode") from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise ImageRejected(f"image_url is a truncated or corrupt {header.format} file") from exc
    # In place: without it Pillow returns a full copy even when nothing turns. A broken
    # EXIF block only loses its orientation.
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(img, in_place=True)
    return to_rgb(img)


def decode_concurrency() -> int:
    """How many decodes may run at once: one per core (they are CPU-bound anyway)."""
    return max(1, os.cpu_count() or 1)


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB, with transparency flattened onto white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.point(lambda v: v / 256).convert("L").convert("RGB")
    return img.convert("RGB")
