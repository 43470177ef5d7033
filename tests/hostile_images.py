"""A corpus of hostile and awkward images, made in memory (no files checked in)."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from typing import Any

from PIL import Image

from tests.support import image_bytes


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode(img: Image.Image, fmt: str, **save: Any) -> bytes:
    """Encode with Pillow."""
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


@functools.cache
def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A valid 1-bit PNG of width×height zeros: ~110 KB that would decode to gigabytes."""
    packer = zlib.compressobj(9)
    rows = (b"\x00" * (1 + (width + 7) // 8)) * 1000
    idat = b"".join(packer.compress(rows) for _ in range(height // 1000)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims width×height."""
    data = bytearray(image_bytes((64, 48)))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_with_canvas(width: int, height: int) -> bytes:
    """An extended (VP8X) WebP header claiming a width×height canvas."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def gif_with(screen: tuple[int, int] | None = None, frame: tuple[int, int] | None = None) -> bytes:
    """A tiny GIF with its logical screen or first frame size patched."""
    data = bytearray(encode(Image.new("P", (10, 10)), "GIF"))
    if screen:
        data[6:10] = struct.pack("<HH", *screen)
    if frame:
        at = data.find(b"\x2c")
        data[at + 5 : at + 9] = struct.pack("<HH", *frame)
    return bytes(data)


def animated(fmt: str) -> bytes:
    """A two-frame animation (GIF, WEBP or PNG/APNG)."""
    frames = [Image.new("RGB", (64, 48), c) for c in [(255, 0, 0), (0, 255, 0)]]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:])


def with_giant_exif(segments: int = 200) -> bytes:
    """A JPEG carrying `segments` × 60 KB of APP1 metadata (12 MB) before its pixels."""
    jpeg = image_bytes((64, 48))
    payload = b"Exif\x00\x00" + b"\x00" * 60_000
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + app1 * segments + jpeg[2:]


def png_with_text(size: int, compressed: bool) -> bytes:
    """A PNG with one huge text chunk (zTXt inflating to `size` bytes, or plain tEXt)."""
    png = encode(Image.new("RGB", (8, 8)), "PNG")
    if compressed:
        chunk = _chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"\x00" * size, 9))
    else:
        chunk = _chunk(b"tEXt", b"k\x00" + b"a" * size)
    return png[:33] + chunk + png[33:]


def with_orientation(orientation: int) -> bytes:
    """A 64×32 JPEG with an EXIF orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.new("RGB", (64, 32), (10, 200, 10)), "JPEG", exif=exif.tobytes())


# name → (bytes, expected: "ok" or a substring of the 400 message)
def corpus() -> dict[str, tuple[bytes, str]]:
    """Every hostile or awkward input with what must happen to it."""
    jpeg = image_bytes((640, 480))
    png = image_bytes((64, 48), "PNG")
    palette = Image.new("P", (64, 48))
    return {
        "png bomb 30000x30000": (png_bomb(), "too large: 30000x30000"),
        "jpeg claiming 65000x65000": (jpeg_with_size(65000, 65000), "too large"),
        "webp canvas 16384x16384": (webp_with_canvas(16384, 16384), "too large"),
        "gif screen 65535x65535": (gif_with(screen=(65535, 65535)), "too large"),
        "gif frame 60000x60000": (gif_with(frame=(60000, 60000)), "too large"),
        "gif frame 8000x8000": (gif_with(frame=(8000, 8000)), "too large"),
        "png zTXt inflating to 200 MB": (png_with_text(200_000_000, True), "corrupt"),
        "truncated jpeg (300 bytes)": (jpeg[:300], "corrupt"),
        "truncated jpeg (half)": (jpeg[: len(jpeg) // 2], "corrupt"),
        "truncated png": (png[: len(png) - 40], "corrupt"),
        "png header only": (png[:20], "corrupt"),
        "empty body": (b"", "empty"),
        "html named .jpg": (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML"),
        "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="9e9"/>', "SVG"),
        "pdf": (b"%PDF-1.4\n%...", "PDF"),
        "bmp": (encode(Image.new("RGB", (8, 8)), "BMP"), "BMP"),
        "tiff": (encode(Image.new("RGB", (8, 8)), "TIFF"), "TIFF"),
        "ico": (encode(Image.new("RGB", (16, 16)), "ICO"), "ICO"),
        "gif/js polyglot": (b"GIF89a/*\x00\x00*/=alert(1)//", "GIF"),
        "jpeg magic then garbage": (b"\xff\xd8\xff" + b"\x00" * 500, "corrupt"),
        "webp riff garbage": (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "corrupt"),
        "jpeg + zip polyglot": (jpeg + b"PK\x03\x04" + b"\x00" * 1000, "ok"),
        "png + html after IEND": (png + b"<script>alert(1)</script>", "ok"),
        "png served as .jpg": (png, "ok"),
        "giant exif (12 MB)": (with_giant_exif(), "ok"),
        "png 5 MB tEXt": (png_with_text(5_000_000, False), "ok"),
        "cmyk jpeg": (encode(Image.new("CMYK", (64, 48), (10, 20, 30, 40)), "JPEG"), "ok"),
        "16-bit grey png": (encode(Image.new("I;16", (64, 48), 40000), "PNG"), "ok"),
        "palette + transparency": (encode(palette, "PNG", transparency=0), "ok"),
        "grey + alpha png": (encode(Image.new("LA", (64, 48)), "PNG"), "ok"),
        "1-bit png": (encode(Image.new("1", (64, 48)), "PNG"), "ok"),
        "animated gif": (animated("GIF"), "ok"),
        "animated webp": (animated("WEBP"), "ok"),
        "apng": (animated("PNG"), "ok"),
        "lossless webp rgba": (encode(Image.new("RGBA", (30, 20)), "WEBP", lossless=True), "ok"),
        "progressive jpeg": (image_bytes((320, 240), progressive=True), "ok"),
        "exif-rotated jpeg": (with_orientation(6), "ok"),
    }
