"""Small numpy helpers shared by the edit families (uint8 RGB arrays in, uint8 out)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


def as_float(rgb: U8) -> F32:
    """uint8 → float32 in 0..255 (no rescale, so LUT-style constants read naturally)."""
    return rgb.astype(np.float32)


def to_u8(values: npt.NDArray[Any]) -> U8:
    """Round and clip float values to uint8."""
    out: U8 = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return out


def luminance(rgb: U8 | F32) -> F32:
    """Rec. 601 luma, float32 0..255, shape HxW."""
    x = rgb.astype(np.float32, copy=False)
    out: F32 = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114
    return out


def lerp(a: npt.NDArray[Any], b: npt.NDArray[Any], weight: npt.NDArray[Any] | float) -> F32:
    """a·(1−w) + b·w; a HxW weight broadcasts over channels."""
    w = weight[..., None] if isinstance(weight, np.ndarray) and weight.ndim == 2 else weight
    fa = a.astype(np.float32, copy=False)
    out: F32 = fa + (b.astype(np.float32, copy=False) - fa) * w
    return out


def lut(rgb: U8, tables: list[U8]) -> U8:
    """Apply one 256-entry table per channel (fast path for point operations)."""
    out = np.empty_like(rgb)
    for c, table in enumerate(tables):
        out[..., c] = table[rgb[..., c]]
    return out


LEVELS = np.arange(256, dtype=np.float32)


def radial_distance(height: int, width: int, cx: float = 0.5, cy: float = 0.5) -> F32:
    """Distance from (cx, cy) in units of the half-diagonal-ish ellipse (1.0 at mid-edges)."""
    ys = (np.arange(height, dtype=np.float32) / max(height - 1, 1) - cy) * 2.0
    xs = (np.arange(width, dtype=np.float32) / max(width - 1, 1) - cx) * 2.0
    out: F32 = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    return out


def guided_filter(guide: F32, src: F32, radius: int, eps: float) -> F32:
    """He et al.'s guided filter: snaps the coarse upscaled mask to the photo's edges."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x: F32) -> F32:
        return np.asarray(cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT), np.float32)

    mean_i, mean_p = box(guide), box(src)
    cov = box(guide * src) - mean_i * mean_p
    var = box(guide * guide) - mean_i * mean_i
    a = (cov / (var + eps)).astype(np.float32)
    b = mean_p - a * mean_i
    out: F32 = box(a) * guide + box(b)
    return out
