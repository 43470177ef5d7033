"""Weather and light: rain streaks, wet-ground reflections, snow, fog, vignette."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import cv2
import numpy as np

from imagine.engines.offline.families import Handler
from imagine.engines.offline.imaging import F32, U8, as_float, lerp, radial_distance, to_u8
from imagine.engines.offline.rules import Edit, WeatherOp
from imagine.engines.offline.subject import Context


def _amount(edit: Edit) -> float:
    return float(np.clip(abs(edit.amount), 0.3, 2.5))


def _streaks(
    shape: tuple[int, int], count: int, length: float, thickness: int, rng: np.random.Generator
) -> F32:
    """A layer (0..1) of slanted anti-aliased line segments, one call to OpenCV."""
    h, w = shape
    layer = np.zeros((h, w), np.uint8)
    if count <= 0:
        return layer.astype(np.float32)
    x0 = rng.uniform(-0.1 * w, 1.1 * w, count)
    y0 = rng.uniform(-length, h, count)
    size = rng.uniform(0.6, 1.3, count) * length
    slant = 0.2 + rng.normal(0.0, 0.03, count)  # wind: all drops lean the same way
    starts = np.stack([x0, y0], axis=1)
    ends = starts + np.stack([size * slant, size], axis=1)
    lines = np.stack([starts, ends], axis=1).round().astype(np.int32)
    cv2.polylines(layer, list(lines), False, 255, thickness, cv2.LINE_AA)
    return layer.astype(np.float32) / 255.0


def _rain(rgb: U8, amount: float, ctx: Context) -> U8:
    h, w = rgb.shape[:2]
    side = max(h, w)
    # overcast: a little darker, cooler, flatter before the drops go on
    out = lerp(rgb, np.array([105, 115, 130], np.float32), 0.18) * 0.88
    far = _streaks((h, w), int(h * w / 900 * amount), 0.035 * side, 1, ctx.rng)
    near = _streaks((h, w), int(h * w / 4000 * amount), 0.08 * side, 2, ctx.rng)
    layer = np.clip(far * 0.5 + near * 0.75, 0.0, 1.0)
    layer = cv2.GaussianBlur(layer, (0, 0), sigmaX=0.6)
    return to_u8(lerp(out, np.array([225, 230, 240], np.float32), layer))


def _ground_line(ctx: Context, height: int) -> int:
    """Row where the ground meets the subject (its lowest row), else 60 % down the frame."""
    mask = ctx.subject_mask_if_found()
    rows = np.nonzero((mask > 0.5).mean(axis=1) > 0.02)[0]
    if rows.size and 0.45 * height <= rows[-1] <= 0.95 * height:
        return int(rows[-1])
    return round(0.6 * height)


def _reflections(rgb: U8, amount: float, ctx: Context) -> U8:
    h, w = rgb.shape[:2]
    side = max(h, w)
    axis = _ground_line(ctx, h)
    rows = h - axis - 1
    if rows <= 0:
        return rgb
    ys = np.arange(axis + 1, h, dtype=np.float32)
    # mirror about the ground line, with a gentle ripple from the seeded generator
    phase = ctx.rng.uniform(0, 2 * np.pi, 2)
    ripple = (
        0.004
        * side
        * (np.sin(ys / (0.011 * side) + phase[0]) + 0.5 * np.sin(ys / (0.0043 * side) + phase[1]))
    )
    map_x = (np.arange(w, dtype=np.float32)[None, :] + ripple[:, None]).astype(np.float32)
    map_y = np.repeat((2 * axis - ys)[:, None], w, axis=1)
    mirrored = cv2.remap(
        rgb, map_x, map_y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    k = max(3, round(0.012 * side))
    mirrored = cv2.blur(mirrored, (1, k))  # a wet surface smears reflections vertically
    dry = ctx.subject_mask_if_found()[axis + 1 :]
    # wet asphalt is darker; the subject itself (e.g. the car's wheels) stays as it was
    ground = lerp(as_float(rgb[axis + 1 :]) * 0.72, rgb[axis + 1 :], dry)
    fade = np.exp(-(ys - axis) / (0.5 * max(rows, 1)))[:, None]
    weight = np.clip(0.62 * amount, 0.0, 0.9) * fade
    weight = weight * (1.0 - dry)
    out = rgb.copy()
    out[axis + 1 :] = to_u8(lerp(ground, mirrored, weight.astype(np.float32)))
    return out


def _snow(rgb: U8, amount: float, ctx: Context) -> U8:
    h, w = rgb.shape[:2]
    side = max(h, w)
    gray = rgb.mean(axis=2, keepdims=True)
    out = lerp(
        gray + (as_float(rgb) - gray) * 0.8, np.array([235, 240, 248], np.float32), 0.14 * amount
    )
    layer = np.zeros((h, w), np.uint8)
    count = int(h * w / 1000 * amount)
    xs = ctx.rng.uniform(0, w, count)
    ys = ctx.rng.uniform(0, h, count)
    # mostly small far flakes, a few big near ones; sizes scale with the picture
    radii = max(1.5, 0.0015 * side) + ctx.rng.uniform(0.0, 1.0, count) ** 3 * 0.006 * side
    for x, y, r in zip(
        xs.round().astype(int), ys.round().astype(int), radii.round().astype(int), strict=True
    ):
        cv2.circle(layer, (int(x), int(y)), int(r), 255, -1, cv2.LINE_AA)
    soft = cv2.GaussianBlur(layer.astype(np.float32) / 255.0, (0, 0), sigmaX=0.7)
    return to_u8(lerp(out, np.array([250, 251, 255], np.float32), np.clip(soft * 1.2, 0, 1)))


def _fog(rgb: U8, amount: float, ctx: Context) -> U8:
    h, w = rgb.shape[:2]
    # thicker toward the top (the distance), patchy at a large scale
    grad = 0.75 + 0.25 * (1.0 - np.arange(h, dtype=np.float32) / max(h - 1, 1))
    coarse = ctx.rng.uniform(0.8, 1.2, (5, 7)).astype(np.float32)
    patches = np.asarray(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)
    density = np.clip(0.5 * amount, 0.1, 0.85) * grad[:, None] * patches
    return to_u8(lerp(rgb, np.array([208, 212, 218], np.float32), np.clip(density, 0.0, 0.95)))


def _vignette(rgb: U8, amount: float) -> U8:
    h, w = rgb.shape[:2]
    r = radial_distance(h, w)
    t = np.clip((r - 0.45) / 1.0, 0.0, 1.0)
    falloff = 1.0 - 0.6 * min(amount, 1.6) * (t * t * (3 - 2 * t))
    return to_u8(as_float(rgb) * falloff[..., None])


HANDLERS: Mapping[WeatherOp, Handler] = MappingProxyType(
    {
        WeatherOp.RAIN: lambda rgb, edit, ctx: _rain(rgb, _amount(edit), ctx),
        WeatherOp.REFLECTIONS: lambda rgb, edit, ctx: _reflections(rgb, _amount(edit), ctx),
        WeatherOp.SNOW: lambda rgb, edit, ctx: _snow(rgb, _amount(edit), ctx),
        WeatherOp.FOG: lambda rgb, edit, ctx: _fog(rgb, _amount(edit), ctx),
        WeatherOp.VIGNETTE: lambda rgb, edit, _: _vignette(rgb, _amount(edit)),
    }
)


def apply(rgb: U8, edit: Edit, ctx: Context) -> U8:
    """Apply one weather/light edit to an RGB uint8 array."""
    return HANDLERS[WeatherOp(edit.op)](rgb, edit, ctx)
