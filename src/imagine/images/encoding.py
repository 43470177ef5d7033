"""Encode output images fast, without metadata (CPU-bound: call off the event loop).

Chosen by measurement (bench/image_stages.py, 1 MP photo-like image, CPU ms / bytes):

| encoder                                   | CPU ms | bytes  |
|-------------------------------------------|--------|--------|
| Pillow PNG compress_level=6 (was)         | ~300+  | 1.36 M |
| Pillow PNG level 1                        | ~85    | 1.57 M |
| OpenCV PNG level 1 + Z_RLE strategy       | ~60    | 1.32 M |
| fpng (fpng package)                       | ~3.5   | 1.70 M |
| Pillow JPEG q92 optimize=True (was)       | ~9.5   | 216 K  |
| Pillow JPEG q92 (no Huffman optimisation) | ~4.5   | 221 K  |

fpng is ~20x cheaper than any zlib-based PNG writer for ~25 % more bytes, still a valid,
lossless PNG (tests decode it back pixel-identical); it writes 8-bit RGB/RGBA only, so
grey images and a missing fpng wheel fall back to OpenCV level 1 with the RLE strategy
(the smallest and fastest zlib setting measured on photos). JPEG keeps libjpeg-turbo via
Pillow at q92 and skips the optimised Huffman pass: half the CPU for 2 % more bytes.
"""

from __future__ import annotations

import io
from typing import Any, Literal

import cv2
import numpy as np
from PIL import Image

from imagine.images.decoding import to_rgb

try:  # wheels for CPython 3.11–3.13 on x86-64 / aarch64 Linux; elsewhere the fallback runs
    import fpng as _fpng  # type: ignore[import-untyped, unused-ignore]
except ImportError:  # pragma: no cover - depends on the platform
    _fpng = None

_fpng_module: Any = _fpng
JPEG_QUALITY = 92
_CV2_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]


def encode(img: Image.Image, fmt: Literal["png", "jpeg"]) -> bytes:
    """Encode without metadata (no EXIF, ICC, XMP, comments or text chunks)."""
    if fmt == "jpeg":
        return encode_jpeg(img, JPEG_QUALITY)
    return encode_png(img)


def encode_jpeg(img: Image.Image, quality: int) -> bytes:
    """Baseline JPEG; only what is passed here is written (Pillow takes no info from `img`
    except a comment, which is cleared)."""
    rgb = to_rgb(img) if img.mode not in ("RGB", "L") else img
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=quality, comment=b"")
    return buf.getvalue()


def encode_png(img: Image.Image) -> bytes:
    """Lossless PNG: fpng for 8-bit RGB/RGBA, OpenCV (zlib level 1, RLE) otherwise."""
    if img.mode not in ("RGB", "RGBA", "L"):
        img = img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB")
    pixels = np.asarray(img)
    if _fpng_module is not None and img.mode != "L":
        return bytes(_fpng_module.from_ndarray(pixels))
    if img.mode == "RGB":
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    elif img.mode == "RGBA":
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
    ok, out = cv2.imencode(".png", pixels, _CV2_PNG)
    if not ok:  # pragma: no cover - OpenCV refuses only unsupported shapes, excluded above
        raise ValueError("PNG encoding failed")
    return bytes(out)
