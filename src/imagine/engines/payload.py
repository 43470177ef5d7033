"""How inputs go to providers and how their results come back.

With `EditOptions.source` (built by `prepare_source`) the upload is the input's original
bytes when a provider can take them as they are, else one fast JPEG transcode; the
provider's result is validated (`validate_result_bytes`) and kept as bytes. Without a
source, the decoded image is encoded here (fast PNG) and the result decoded, as before.
"""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass

import anyio.to_thread
from PIL import Image

from imagine import images
from imagine.engines.base import EditOptions, SourceImage
from imagine.errors import UpstreamFailed
from imagine.fetch.client import PROVIDER_MAX_BYTES
from imagine.images.encoding import encode_jpeg

RESULT_FORMATS = ("JPEG", "PNG", "WEBP")
# The provider-API client's own body cap: one number for both.
MAX_RESULT_BYTES = PROVIDER_MAX_BYTES
MAX_RESULT_PIXELS = 40_000_000
# Base64 of more than this is done on a worker thread (about 1 ms of CPU per MB).
_INLINE_B64 = 1024 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """What every hosted provider takes as it is (the strictest of them)."""

    formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP")
    # BFL documents inputs up to 20 MB / 20 MP; the byte cap is lower because the bytes
    # travel base64 inside a JSON body (fal, Replicate: data URIs) and sit in memory.
    max_pixels: int = 20_000_000
    max_side: int = 8192
    max_bytes: int = 10 * 1024 * 1024
    # A transcoded input: FLUX.1 Kontext works at about 1 MP, so more is wasted upload.
    transcode_max_pixels: int = 4_194_304
    transcode_max_side: int = 2048


HOSTED_UPLOAD = UploadLimits()


def prepare_source(
    data: bytes, *, decode_max_pixels: int, limits: UploadLimits = HOSTED_UPLOAD
) -> SourceImage:
    """The bytes to upload: `data` itself when acceptable, else one fast JPEG q95.

    CPU-bound (a header read, or one decode + encode): call it on a worker thread. Raises
    ImageRejected (400) for input that is not a usable image, like `images.decode`.
    """
    header = images.sniff_acceptable(
        data,
        max_pixels=min(limits.max_pixels, decode_max_pixels),
        max_side=limits.max_side,
        formats=limits.formats,
        max_bytes=limits.max_bytes,
    )
    if header is None:
        data = images.fast_upload_jpeg(
            data,
            max_pixels=limits.transcode_max_pixels,
            max_side=limits.transcode_max_side,
            decode_max_pixels=decode_max_pixels,
        )
        header = images.sniff_acceptable(
            data, max_pixels=limits.max_pixels, max_side=limits.max_side, check_integrity=False
        )
        assert header is not None  # our own baseline JPEG, within the limits
    return SourceImage(data, header)


def _encode(image: Image.Image, fmt: str) -> bytes:
    if fmt == "JPEG":
        return encode_jpeg(image, 95)
    return images.encode(image, "png")


async def _b64(data: bytes) -> str:
    if len(data) <= _INLINE_B64:
        return base64.b64encode(data).decode("ascii")
    encoded = await anyio.to_thread.run_sync(base64.b64encode, data)
    return encoded.decode("ascii")


async def input_base64(image: Image.Image, options: EditOptions) -> str:
    """Plain base64 of the input: `options.source` as it is, else the image as PNG."""
    if options.source is not None:
        return await _b64(options.source.data)
    return await encode_base64(image)


async def input_base64_of(source: SourceImage) -> str:
    """Plain base64 of one more input image's bytes (a multi-reference edit)."""
    return await _b64(source.data)


async def data_uri_of(source: SourceImage) -> str:
    """One more input image's bytes as a data URI (a multi-reference edit)."""
    return f"data:{source.info.content_type};base64,{await _b64(source.data)}"


async def input_data_uri(image: Image.Image, options: EditOptions) -> str:
    """The input as a data URI: `options.source` as it is, else the image as PNG."""
    if options.source is not None:
        mime = options.source.info.content_type
        return f"data:{mime};base64,{await _b64(options.source.data)}"
    return await encode_data_uri(image)


async def validate_result_bytes(data: bytes) -> images.ResultInfo:
    """Format, size, pixel cap and integrity of a result, without re-encoding it."""
    return await anyio.to_thread.run_sync(
        lambda: images.validate_result(data, max_pixels=MAX_RESULT_PIXELS, formats=RESULT_FORMATS)
    )


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
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise UpstreamFailed("Upstream returned an unreadable image") from exc


def decode_bytes(data: bytes, max_pixels: int = MAX_RESULT_PIXELS) -> Image.Image:
    """Decode a result to RGB here and now (CPU-bound; see `decode_result`)."""
    return _decode(data, max_pixels)


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
    return images.cover(image, width, height)
