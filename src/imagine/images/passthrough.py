"""Bytes that need no pixels: send an input as it is, store a provider's result as it is.

A hosted engine needs no decoded image: an input that is already an acceptable JPEG, PNG or
WebP goes to the provider byte for byte (`sniff_acceptable`), anything else is transcoded
once (`fast_upload_jpeg`); the provider's answer is checked without re-encoding
(`validate_result`). Measured on a 1 MP photo-like image (bench/image_stages.py): the header
checks cost ~0.05 ms; the integrity check is structural: JPEG and WebP are checked for
being complete (an end-of-image marker after the first scan; the RIFF sizes) by a byte
search, ~0.1 ms (a 1/8-scale DCT decode, which still entropy-decodes everything, was 2–5 ms
under load), PNG by `verify()` (every chunk's CRC through IEND) ~0.6 ms against ~35 ms for a
full decode. Bit errors inside a JPEG's scan are not found (libjpeg itself only warns on
most of them); the provider decodes the image anyway.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Collection
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from imagine.errors import ImageRejected, UpstreamFailed
from imagine.image_header import Header, sniff
from imagine.images.decoding import decode

PASS_FORMATS = ("JPEG", "PNG", "WEBP")
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
UPLOAD_QUALITY = 95
_ORIENTATION = 0x0112
_PNG_SIG = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ImageInfo:
    """What the header says about an encoded image."""

    format: str  # "jpeg", "png" or "webp" (lower case, like `output_format`)
    width: int
    height: int
    size: int  # bytes

    @property
    def content_type(self) -> str:
        """The MIME type, e.g. image/jpeg."""
        return MIME[self.format.upper()]


ResultInfo = ImageInfo


def _info(header: Header, data: bytes) -> ImageInfo:
    return ImageInfo(header.format.lower(), header.width, header.height, len(data))


def _png_is_plain(data: bytes) -> bool:
    """Grey/palette up to 8 bits or 8-bit RGB, no alpha (no tRNS chunk before the pixels)."""
    bit_depth, colour_type = data[24], data[25]
    if colour_type not in (0, 2, 3) or bit_depth > 8 or (colour_type == 2 and bit_depth != 8):
        return False
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"tRNS":
            return False
        if kind == b"IDAT":
            return True
        pos += 12 + length
    return False


def _webp_is_plain(data: bytes) -> bool:
    """Lossy or lossless WebP without alpha or animation."""
    chunk = data[12:16]
    if chunk == b"VP8 ":
        return True
    if chunk == b"VP8L" and len(data) >= 25:
        return not (int.from_bytes(data[21:25], "little") >> 28) & 1  # alpha_is_used
    if chunk == b"VP8X" and len(data) >= 21:
        return not data[20] & (0x10 | 0x02)  # alpha, animation
    return False


def _jpeg_is_plain(data: bytes) -> bool:
    """3-component (YCbCr) JPEG shown as stored: EXIF orientation absent or 1."""
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as img:  # parses markers only
            if img.mode != "RGB":  # CMYK / YCCK / grey: providers render these unreliably
                return False
            return int(img.getexif().get(_ORIENTATION, 1)) == 1
    except (OSError, SyntaxError, ValueError, struct.error):
        return False


def _jpeg_complete(data: bytes) -> bool:
    """The first scan (SOS) is followed by an end-of-image marker (FF D9).

    FF D9 cannot occur inside entropy-coded data (a data FF is stuffed as FF 00), so a file
    cut anywhere in its scans has none after the first SOS; a trailer after the EOI (a
    second MPF picture, padding) is fine. A byte search, no decoding.
    """
    sos = data.find(b"\xff\xda", 2)
    return sos > 0 and data.rfind(b"\xff\xd9") > sos


def _webp_complete(data: bytes) -> bool:
    """The RIFF size covers the file and the first chunk's payload is all there."""
    if len(data) < 20:
        return False
    riff = int.from_bytes(data[4:8], "little") + 8
    chunk = int.from_bytes(data[16:20], "little")
    return riff <= len(data) and 20 + chunk <= riff


def _intact(data: bytes, fmt: str) -> bool:
    """Cheap integrity check, no decoding: PNG chunk CRCs through IEND, JPEG and WebP
    structure (nothing cut off)."""
    if fmt == "JPEG":
        return _jpeg_complete(data)
    if fmt == "WEBP":
        return _webp_complete(data)
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            img.verify()  # PNG: every chunk's CRC through IEND, no inflate
            return True
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        struct.error,
        UnidentifiedImageError,
        Image.DecompressionBombError,
    ):
        return False


def sniff_acceptable(
    data: bytes,
    *,
    max_pixels: int,
    max_side: int,
    formats: Collection[str] = PASS_FORMATS,
    max_bytes: int | None = None,
    check_integrity: bool = True,
) -> ImageInfo | None:
    """The header's facts when `data` may go to a provider byte for byte, else None.

    Acceptable: one of `formats` (JPEG/PNG/WEBP), within `max_pixels`, `max_side` and
    `max_bytes`, shown as stored (no EXIF rotation), without alpha, 8-bit, not animated,
    and (with `check_integrity`) not truncated. Raises ImageRejected for bytes that are not
    an image at all, exactly as decoding would; None means "transcode with
    fast_upload_jpeg". Refuse the server's own pixel cap before calling this.
    """
    header = sniff(data)
    if header.format not in {f.upper() for f in formats}:
        return None
    if header.pixels > max_pixels or max(header.width, header.height) > max_side:
        return None
    if max_bytes is not None and len(data) > max_bytes:
        return None
    plain = {
        "JPEG": _jpeg_is_plain,
        "PNG": _png_is_plain,
        "WEBP": _webp_is_plain,
    }.get(header.format)
    if plain is None or not plain(data):
        return None
    if check_integrity and not _intact(data, header.format):
        raise ImageRejected(f"image_url is a truncated or corrupt {header.format} file")
    return _info(header, data)


def fast_upload_jpeg(
    data: bytes,
    *,
    max_pixels: int = 4_194_304,
    max_side: int = 2048,
    decode_max_pixels: int = 40_000_000,
    quality: int = UPLOAD_QUALITY,
) -> bytes:
    """One decode (JPEG in draft mode), EXIF orientation applied, alpha flattened onto
    white, an INTER_AREA downscale to fit `max_pixels`/`max_side`, JPEG q95."""
    header = sniff(data)
    scale = min(
        1.0, max_side / max(header.width, header.height), (max_pixels / header.pixels) ** 0.5
    )
    target = (max(1, int(header.width * scale)), max(1, int(header.height * scale)))
    # decode(): pixel cap on the header, JPEG draft (DCT-domain downscale), EXIF, RGB.
    rgb = decode(data, max_pixels=decode_max_pixels, draft_size=target if scale < 1 else None)
    width, height = rgb.size
    scale = min(1.0, max_side / max(width, height), (max_pixels / (width * height)) ** 0.5)
    if scale < 1.0:
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        rgb = Image.fromarray(cv2.resize(np.asarray(rgb), size, interpolation=cv2.INTER_AREA))
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=quality, comment=b"")
    return buf.getvalue()


def validate_result(
    data: bytes,
    *,
    max_pixels: int,
    expected_format: str | None = None,
    formats: Collection[str] = PASS_FORMATS,
) -> ResultInfo:
    """Check a provider's result without re-encoding it: magic bytes, header dimensions,
    pixel cap and integrity; UpstreamFailed for anything a client must not receive."""
    if data[:8] != _PNG_SIG and data[:3] != b"\xff\xd8\xff" and data[:4] != b"RIFF":
        raise UpstreamFailed("Upstream returned an unreadable image")
    try:
        header = sniff(data)
    except ImageRejected as exc:
        raise UpstreamFailed("Upstream returned an unreadable image") from exc
    if header.format not in {f.upper() for f in formats}:
        raise UpstreamFailed("Upstream returned an unreadable image")
    if expected_format is not None and header.format.lower() != expected_format.lower():
        raise UpstreamFailed(f"Upstream returned {header.format}, not {expected_format.upper()}")
    if header.pixels > max_pixels:
        raise UpstreamFailed("Upstream returned an oversized image")
    if not _intact(data, header.format):
        raise UpstreamFailed("Upstream returned an unreadable image")
    return _info(header, data)
