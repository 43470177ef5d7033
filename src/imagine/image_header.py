"""Sniff an image's real format and pixel size from its first bytes, before any decoder runs.

The URL's extension and the server's Content-Type are never trusted: a decompression bomb
or a file of the wrong kind is recognised here without allocating a single pixel.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from imagine.errors import ImageRejected

Format = Literal["JPEG", "PNG", "WEBP", "GIF"]
SUPPORTED = "JPEG, PNG, WebP or GIF"

# What refused files usually are, so the message can say it.
_KNOWN_OTHERS: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"<svg", "an SVG image"),
    (b"<?xml", "an XML/SVG document"),
    (b"<!doctype html", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"\x00\x00\x01\x00", "an ICO image"),
    (b"8BPS", "a Photoshop document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "gzip data"),
    (b"{", "JSON"),
)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class Header:
    """Format and pixel size as the file declares them."""

    format: Format
    width: int
    height: int

    @property
    def pixels(self) -> int:
        """Declared pixel count."""
        return self.width * self.height


def _what_else(data: bytes) -> str:
    head = data[:64].lstrip().lower()
    for magic, name in _KNOWN_OTHERS:
        if head.startswith(magic.lower()):
            return name
    if len(data) > 12 and data[4:8] == b"ftyp":
        return "a HEIF/AVIF/MP4 file"
    return "not a known image format"


def _corrupt(kind: str) -> ImageRejected:
    return ImageRejected(f"image_url is a truncated or corrupt {kind} file")


def _jpeg(data: bytes) -> tuple[int, int]:
    pos = 2
    size = len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            raise _corrupt("JPEG")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            raise _corrupt("JPEG")
        if marker in _SOF:
            if pos + 9 > size:
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if marker in (0xDA, 0xD9):  # scan data or end before any frame header
            break
        pos += 2 + length
    raise _corrupt("JPEG")


def _webp(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    raise _corrupt("WebP")


def sniff(data: bytes) -> Header:
    """The real format and declared size of `data`; ImageRejected for anything else."""
    if not data:
        raise ImageRejected("image_url returned an empty body")
    fmt: Format
    if data[:3] == b"\xff\xd8\xff":
        fmt, (width, height) = "JPEG", _jpeg(data)
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise _corrupt("PNG")
        fmt, (width, height) = "PNG", struct.unpack(">II", data[16:24])
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        fmt, (width, height) = "WEBP", _webp(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        if len(data) < 10:
            raise _corrupt("GIF")
        fmt, (width, height) = "GIF", struct.unpack("<HH", data[6:10])
    else:
        raise ImageRejected(
            f"image_url is not a supported image ({SUPPORTED} expected; this is {_what_else(data)})"
        )
    if width <= 0 or height <= 0:
        raise ImageRejected(f"image_url is not a valid {fmt} image (empty dimensions)")
    return Header(fmt, width, height)


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Refuse a size above the pixel cap, naming both."""
    if width * height > max_pixels:
        raise ImageRejected(
            f"image_url image is too large: {width}x{height} pixels (at most {max_pixels} pixels)"
        )
