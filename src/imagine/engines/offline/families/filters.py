"""Filters: blur, sharpen, pixelate, cartoon, pencil sketch, HDR-like local detail."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import cv2
import numpy as np

from imagine.engines.offline.families import Handler
from imagine.engines.offline.imaging import U8, as_float, to_u8
from imagine.engines.offline.rules import Edit, FilterOp
from imagine.engines.offline.subject import Context


def _amount(edit: Edit) -> float:
    # these filters have no "opposite"; "less blur" still means some blur
    return float(np.clip(abs(edit.amount), 0.25, 4.0))


def _side(rgb: U8) -> int:
    return int(max(rgb.shape[0], rgb.shape[1]))


def blur(rgb: U8, sigma: float) -> U8:
    """Gaussian blur with a sigma in pixels."""
    return np.asarray(cv2.GaussianBlur(rgb, (0, 0), sigmaX=max(sigma, 0.3)), np.uint8)


def _sharpen(rgb: U8, amount: float) -> U8:
    # unsharp mask: add back the detail a small blur removes
    soft = as_float(blur(rgb, 0.0015 * _side(rgb) + 0.5))
    return to_u8(as_float(rgb) + (as_float(rgb) - soft) * 1.1 * amount)


def _pixelate(rgb: U8, amount: float) -> U8:
    h, w = rgb.shape[:2]
    block = max(2, round(_side(rgb) / 72 * amount))
    small = cv2.resize(rgb, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST), np.uint8)


def _cartoon(rgb: U8, amount: float) -> U8:
    h, w = rgb.shape[:2]
    # edge-preserving smoothing at half size (bilateral is the slow part), flat colour bands
    half = cv2.resize(rgb, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    for _ in range(2):
        half = cv2.bilateralFilter(half, 7, 40, 5)
    smooth = cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR)
    levels = max(3, round(8 / amount))
    step = 256 / levels
    flat = (np.floor(smooth.astype(np.float32) / step) + 0.5) * step
    # ink lines where the local luminance changes sharply
    gray = cv2.medianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 5)
    edges = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 4)
    ink = (edges.astype(np.float32) / 255.0)[..., None]
    return to_u8(flat * ink)


def _sketch(rgb: U8, amount: float) -> U8:
    # colour-dodge the grey image with its blurred negative: the classic pencil drawing
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    sigma = 0.008 * _side(rgb) * amount + 1.0
    blurred_neg = cv2.GaussianBlur(255.0 - gray, (0, 0), sigmaX=sigma)
    dodge = np.clip(gray * 255.0 / np.maximum(255.0 - blurred_neg, 1.0), 0.0, 255.0)
    # darken the strokes a little so thin lines stay visible after downscaling
    sketch = 255.0 * (dodge / 255.0) ** 1.6
    out = to_u8(sketch)
    return np.repeat(out[..., None], 3, axis=2)


def _hdr(rgb: U8, amount: float) -> U8:
    # local contrast on lightness only (CLAHE + wide unsharp), then a little extra colour
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=1.5 + 1.5 * amount, tileGridSize=(8, 8))
    light = clahe.apply(lab[..., 0]).astype(np.float32)
    # the wide blur only carries coarse light: compute it at quarter size (16× fewer pixels)
    h, w = light.shape
    quarter = cv2.resize(light, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    quarter = cv2.GaussianBlur(quarter, (0, 0), sigmaX=0.015 * _side(rgb) / 4)
    wide = cv2.resize(quarter, (w, h), interpolation=cv2.INTER_LINEAR)
    light = light + (light - wide) * 0.6 * amount
    lab[..., 0] = to_u8(light)
    out = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).astype(np.float32)
    gray = out.mean(axis=2, keepdims=True)
    return to_u8(gray + (out - gray) * (1.0 + 0.15 * amount))


HANDLERS: Mapping[FilterOp, Handler] = MappingProxyType(
    {
        # filters are pure functions of the pixels: the context is not used
        FilterOp.BLUR: lambda rgb, edit, _: blur(rgb, 0.006 * _side(rgb) * _amount(edit)),
        FilterOp.SHARPEN: lambda rgb, edit, _: _sharpen(rgb, _amount(edit)),
        FilterOp.PIXELATE: lambda rgb, edit, _: _pixelate(rgb, _amount(edit)),
        FilterOp.CARTOON: lambda rgb, edit, _: _cartoon(rgb, _amount(edit)),
        FilterOp.SKETCH: lambda rgb, edit, _: _sketch(rgb, _amount(edit)),
        FilterOp.HDR: lambda rgb, edit, _: _hdr(rgb, _amount(edit)),
    }
)


def apply(rgb: U8, edit: Edit, ctx: Context) -> U8:
    """Apply one filter edit to an RGB uint8 array (ValueError for an op not of this family)."""
    return HANDLERS[FilterOp(edit.op)](rgb, edit, ctx)
