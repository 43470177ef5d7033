"""A deterministic photo-like test image: smooth shading, texture, hard edges and sensor noise.

A gradient compresses ~5x better than a photo and makes PNG encoders look fast; this image
encodes to roughly the size of a real 1 MP camera photo (PNG ~1.6 MB, JPEG q90 ~300 KB), so
stage timings and byte counts transfer. Used by every benchmark in bench/.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def photo_like(width: int = 1600, height: int = 1200, seed: int = 7) -> Image.Image:
    """An RGB image with the statistics of a photo (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.float32)
    # Low-frequency shading (sky, walls, lighting), several octaves of value noise.
    for octave, weight in ((4, 90.0), (16, 45.0), (64, 22.0), (256, 10.0)):
        small = rng.random((max(2, height * octave // width), octave, 3), dtype=np.float32)
        img += cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC) * weight
    # Hard-edged objects with their own fine texture (leaves, fabric, text-like detail).
    for _ in range(60):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(10, 160))
        colour = rng.random(3) * 140 - 70
        mask = np.zeros((height, width), np.uint8)
        if rng.random() < 0.5:
            cv2.circle(mask, (x, y), r, 1, -1, lineType=cv2.LINE_AA)
        else:
            cv2.rectangle(mask, (x, y), (x + r, y + r // 2), 1, -1)
        img += mask[..., None] * colour.astype(np.float32)
    texture = rng.normal(0, 1, (height // 2, width // 2, 3)).astype(np.float32)
    img += cv2.resize(texture, (width, height), interpolation=cv2.INTER_LINEAR) * 9.0
    img = cv2.GaussianBlur(img, (0, 0), 0.8)
    img += rng.normal(0, 3.0, img.shape).astype(np.float32)  # sensor noise
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def photo_jpeg(width: int = 1600, height: int = 1200, quality: int = 90) -> bytes:
    """The photo-like image as a camera-style JPEG (4:2:0, q90)."""
    buf = io.BytesIO()
    photo_like(width, height).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def sample_photo() -> Image.Image | None:
    """scikit-image's bundled astronaut photo upscaled to ~1 MP, when `skimage` is installed."""
    try:
        from skimage import data  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    return Image.fromarray(data.astronaut()).resize((1024, 1024), Image.Resampling.LANCZOS)
