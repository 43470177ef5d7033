"""Decode, validate, orient, size and encode images (CPU-bound: call off the event loop)."""

from __future__ import annotations

import io
import warnings
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from imagine.errors import ImageRejected

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


def decode(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode an allowed format, refuse bombs before allocating, apply EXIF orientation."""
    if not data:
        raise ImageRejected("image_url returned an empty body")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
            width, height = img.size
            if width <= 0 or height <= 0:
                raise ImageRejected("image_url is not a valid image (empty dimensions)")
            if width * height > max_pixels:
                raise ImageRejected(
                    f"image_url image is too large: {width}x{height} pixels"
                    f" (at most {max_pixels} pixels)"
                )
            img.load()
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected(
            "image_url is not a supported image (JPEG, PNG or WebP expected)"
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("image_url image is too large to decode") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("image_url image is truncated or corrupt") from exc
    oriented: Image.Image = img
    try:
        oriented = ImageOps.exif_transpose(img)
    except Exception:
        oriented = img
    return to_rgb(oriented)


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


def cover(img: Image.Image, width: int, height: int) -> Image.Image:
    """Crop to the target's aspect ratio around the centre, then resize (never stretch)."""
    return ImageOps.fit(img, (width, height), method=Image.Resampling.LANCZOS)


def encode(img: Image.Image, fmt: Literal["png", "jpeg"]) -> bytes:
    """Encode without metadata (a fresh image carries no EXIF, ICC or text chunks)."""
    clean = Image.new(img.mode, img.size)
    clean.paste(img)
    buf = io.BytesIO()
    if fmt == "jpeg":
        rgb = to_rgb(clean) if clean.mode != "RGB" else clean
        rgb.save(buf, "JPEG", quality=92, optimize=True)
    else:
        if clean.mode not in ("RGB", "RGBA", "L", "LA"):
            clean = clean.convert("RGBA" if "A" in clean.getbands() else "RGB")
        clean.save(buf, "PNG", compress_level=6)
    return buf.getvalue()
