"""Input encoding for upstream requests and safe decoding of their result images."""

from __future__ import annotations

import base64
import io
import warnings

import anyio.to_thread
from PIL import Image, ImageOps

from imagine.errors import UpstreamFailed

RESULT_FORMATS = ("JPEG", "PNG", "WEBP")
MAX_RESULT_BYTES = 30 * 1024 * 1024
MAX_RESULT_PIXELS = 40_000_000


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    rgb = image.convert("RGB")
    if fmt == "JPEG":
        rgb.save(buffer, "JPEG", quality=95)
    else:
        rgb.save(buffer, "PNG")
    return buffer.getvalue()


async def encode_base64(image: Image.Image, fmt: str = "PNG") -> str:
    """The image as plain base64 of its PNG (or JPEG) bytes, encoded off the event loop."""
    data = await anyio.to_thread.run_sync(_encode, image, fmt)
    return base64.b64encode(data).decode("ascii")


async def encode_data_uri(image: Image.Image, fmt: str = "PNG") -> str:
    """The image as a `data:image/png;base64,...` URI."""
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    return f"data:{mime};base64,{await encode_base64(image, fmt)}"


def _decode(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(RESULT_FORMATS)) as opened:
                width, height = opened.size
                if width < 1 or height < 1 or width * height > max_pixels:
                    raise UpstreamFailed("Upstream returned an oversized image")
                opened.load()
                return opened.convert("RGB")
    except UpstreamFailed:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise UpstreamFailed("Upstream returned an unreadable image") from exc


async def decode_result(data: bytes, max_pixels: int = MAX_RESULT_PIXELS) -> Image.Image:
    """Decode a result (JPEG, PNG or WebP only) into RGB on a worker thread."""
    return await anyio.to_thread.run_sync(_decode, data, max_pixels)


def decode_data_uri(uri: str, max_bytes: int = MAX_RESULT_BYTES) -> bytes:
    """Bytes of a base64 `data:image/...` URI some providers return instead of a link."""
    header, sep, body = uri.partition(",")
    if not sep or not header.startswith("data:image/") or not header.endswith(";base64"):
        raise UpstreamFailed("Upstream returned an unexpected URL")
    if len(body) > max_bytes * 4 // 3 + 4:
        raise UpstreamFailed("Upstream result is too large")
    try:
        data = base64.b64decode(body, validate=True)
    except ValueError as exc:
        raise UpstreamFailed("Upstream returned an unreadable image") from exc
    if len(data) > max_bytes:
        raise UpstreamFailed("Upstream result is too large")
    return data


def fit(image: Image.Image, width: int, height: int) -> Image.Image:
    """Crop-to-cover and resize to the requested size (providers round sizes their own way)."""
    if image.size == (width, height):
        return image
    return ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)
