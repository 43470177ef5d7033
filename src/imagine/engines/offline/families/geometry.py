"""Geometry: rotate (any angle, 90° steps lossless), flip, zoom in, crop to an object — for RGB
or RGBA arrays."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

import cv2
import numpy as np

from imagine.engines.offline.families import Handler
from imagine.engines.offline.imaging import U8
from imagine.engines.offline.rules import Edit, GeometryOp
from imagine.engines.offline.subject import Context


def _rotate(img: U8, clockwise: float) -> U8:
    angle = clockwise % 360.0
    if math.isclose(angle, 0.0, abs_tol=0.05) or math.isclose(angle, 360.0, abs_tol=0.05):
        return img
    for quarter in (1, 2, 3):
        if math.isclose(angle, 90.0 * quarter, abs_tol=0.05):
            # exact quarter turns: no resampling; 90/270 swap width and height
            return np.ascontiguousarray(np.rot90(img, k=-quarter))
    h, w = img.shape[:2]
    theta = math.radians(angle)
    cos, sin = abs(math.cos(theta)), abs(math.sin(theta))
    # scale so the rotated picture still covers the whole frame (no empty corners)
    scale = cos + sin * max(w / h, h / w)
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -angle, scale)
    return np.asarray(
        cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT),
        np.uint8,
    )


def _zoom(img: U8, amount: float) -> U8:
    factor = float(np.clip(1.0 + 0.4 * abs(amount), 1.05, 4.0))
    h, w = img.shape[:2]
    cw, ch = max(1, round(w / factor)), max(1, round(h / factor))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    crop = img[y0 : y0 + ch, x0 : x0 + cw]
    return np.asarray(cv2.resize(crop, (w, h), interpolation=cv2.INTER_CUBIC), np.uint8)


CROP_MARGIN = 0.12  # room around the object, as a share of its box


def _crop_to(img: U8, edit: Edit, ctx: Context) -> U8:
    """Crop to the named object's boxes (with a margin, widened to the frame's shape) and
    scale back to the frame's size."""
    boxes = np.asarray([d.box for d in ctx.objects(edit.target)], np.float64)
    h, w = img.shape[:2]
    x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
    x1, y1 = boxes[:, 2].max(), boxes[:, 3].max()
    bw, bh = (x1 - x0) * (1 + 2 * CROP_MARGIN), (y1 - y0) * (1 + 2 * CROP_MARGIN)
    bw, bh = max(bw, bh * w / h), max(bh, bw * h / w)  # the output keeps the frame's shape
    scale = min(1.0, w / bw, h / bh)
    bw, bh = max(8.0, bw * scale), max(8.0, bh * scale)
    cx = float(np.clip((x0 + x1) / 2, bw / 2, w - bw / 2))
    cy = float(np.clip((y0 + y1) / 2, bh / 2, h - bh / 2))
    left, top = round(cx - bw / 2), round(cy - bh / 2)
    crop = img[max(0, top) : top + round(bh), max(0, left) : left + round(bw)]
    return np.asarray(cv2.resize(crop, (w, h), interpolation=cv2.INTER_CUBIC), np.uint8)


def _flip(img: U8, vertical: bool) -> U8:
    return np.ascontiguousarray(img[::-1] if vertical else img[:, ::-1])


HANDLERS: Mapping[GeometryOp, Handler] = MappingProxyType(
    {
        GeometryOp.ROTATE: lambda img, edit, _: _rotate(img, edit.angle),
        GeometryOp.FLIP: lambda img, edit, _: _flip(img, edit.vertical),
        GeometryOp.ZOOM: lambda img, edit, _: _zoom(img, edit.amount),
        GeometryOp.CROP_TO: _crop_to,
    }
)


def apply(img: U8, edit: Edit, ctx: Context) -> U8:
    """Apply one geometric edit; works on any channel count so alpha follows the pixels."""
    return HANDLERS[GeometryOp(edit.op)](img, edit, ctx)
