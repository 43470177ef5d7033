"""Tone and colour: black and white, sepia, vintage, warmth, light, contrast, saturation, moods."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import cv2
import numpy as np

from imagine.engines.offline.families import Handler
from imagine.engines.offline.imaging import (
    F32,
    LEVELS,
    U8,
    as_float,
    lerp,
    luminance,
    lut,
    radial_distance,
    to_u8,
)
from imagine.engines.offline.rules import Edit, ToneOp
from imagine.engines.offline.subject import Context

_SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32)


def _gray3(rgb: U8) -> U8:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return np.repeat(gray[..., None], 3, axis=2)


def _strength(amount: float) -> float:
    """Blend weight for effects that replace the look (sepia, night…): slight = half."""
    return float(np.clip(abs(amount), 0.0, 1.0))


def _gamma(rgb: U8, gamma: float) -> U8:
    # a power curve keeps pure black and white fixed while moving the mid-tones
    table = to_u8(255.0 * (LEVELS / 255.0) ** gamma)
    return lut(rgb, [table, table, table])


def _gains(rgb: U8, r: float, g: float, b: float) -> U8:
    return lut(rgb, [to_u8(LEVELS * k) for k in (r, g, b)])


def _contrast(rgb: U8, factor: float) -> U8:
    mean = float(luminance(rgb).mean())
    table = to_u8(mean + (LEVELS - mean) * factor)
    return lut(rgb, [table, table, table])


def _saturation(rgb: U8, factor: float) -> U8:
    gray = luminance(rgb)[..., None]
    return to_u8(gray + (as_float(rgb) - gray) * factor)


def _scale(amount: float, step: float) -> float:
    """More-is-up factor: amount 1 → 1+step; negative amounts give the inverse."""
    factor = 1.0 + step * min(abs(amount), 4.0)
    return factor if amount >= 0 else 1.0 / factor


def _sepia(rgb: U8) -> U8:
    return to_u8(cv2.transform(as_float(rgb), _SEPIA))


def _vintage(rgb: U8, ctx: Context) -> U8:
    # faded film: half sepia, lifted blacks, softer whites, warm cast, dark corners, grain
    out = lerp(rgb, _sepia(rgb), 0.45)
    out = 22.0 + out * 0.86
    out *= np.array([1.05, 1.0, 0.9], np.float32)
    h, w = rgb.shape[:2]
    out *= (1.0 - 0.35 * np.clip(radial_distance(h, w) - 0.6, 0.0, 1.0))[..., None]
    grain = ctx.rng.normal(0.0, 5.0, (h, w)).astype(np.float32)[..., None]
    return to_u8(out + grain)


def _night(rgb: U8) -> U8:
    # moonlight: much darker mid-tones, blue cast, little colour; highlights survive as lights
    out = as_float(_saturation(rgb, 0.55)) / 255.0
    out = out**1.7 * 0.8
    out *= np.array([0.72, 0.88, 1.18], np.float32)
    return to_u8(out * 255.0)


def _golden_hour(rgb: U8) -> U8:
    # low warm sun: orange cast, warmer shadows, a soft glow from the upper side of the frame
    h, w = rgb.shape[:2]
    out = as_float(rgb) * np.array([1.12, 0.98, 0.76], np.float32)
    out += np.array([18.0, 8.0, -6.0], np.float32)
    glow = np.exp(-(radial_distance(h, w, cx=0.8, cy=0.1) ** 2) / 0.9)[..., None]
    out = out + (255.0 - out) * glow * np.array([0.45, 0.28, 0.08], np.float32)
    return to_u8(out)


def _tint(rgb: U8, colour: tuple[int, int, int], amount: float) -> U8:
    # keep the photo's light, take the hue: luminance × colour, blended part-way
    lum = luminance(rgb)[..., None] / 255.0
    target = np.asarray(colour, np.float32)
    ref = max(float(luminance(target[None, None, :]).mean()), 40.0) / 255.0
    tinted: F32 = np.clip(lum / ref, 0.0, 2.5) * target
    return to_u8(lerp(rgb, tinted, 0.45 * min(abs(amount), 2.0)))


def _blended(rgb: U8, look: U8, amount: float) -> U8:
    """A replacing look (sepia, night…) blended in by the edit's strength."""
    return to_u8(lerp(rgb, look, _strength(amount)))


def _warmth(rgb: U8, amount: float) -> U8:
    """Positive amounts warm (red up, blue down), negative ones cool."""
    k = 0.12 * float(np.clip(amount, -3.0, 3.0))
    return _gains(rgb, 1.0 + k, 1.0 + 0.15 * k, 1.0 - k)


def _tint_edit(rgb: U8, edit: Edit, ctx: Context) -> U8:
    del ctx
    if edit.colour is None:
        return rgb
    r, g, b = edit.colour.rgb
    if max(r, g, b) - min(r, g, b) < 24:  # "make it grey": a neutral tint is black and white
        return _gray3(rgb)
    return _tint(rgb, edit.colour.rgb, edit.amount)


HANDLERS: Mapping[ToneOp, Handler] = MappingProxyType(
    {
        ToneOp.GRAYSCALE: lambda rgb, e, _: _blended(rgb, _gray3(rgb), e.amount),
        ToneOp.SEPIA: lambda rgb, e, _: _blended(rgb, _sepia(rgb), e.amount),
        ToneOp.VINTAGE: lambda rgb, e, ctx: _blended(rgb, _vintage(rgb, ctx), e.amount),
        ToneOp.NIGHT: lambda rgb, e, _: _blended(rgb, _night(rgb), e.amount),
        ToneOp.GOLDEN_HOUR: lambda rgb, e, _: _blended(rgb, _golden_hour(rgb), e.amount),
        ToneOp.INVERT: lambda rgb, e, _: _blended(rgb, 255 - rgb, e.amount),
        ToneOp.WARMER: lambda rgb, e, _: _warmth(rgb, e.amount),
        ToneOp.COOLER: lambda rgb, e, _: _warmth(rgb, -e.amount),
        ToneOp.BRIGHTER: lambda rgb, e, _: _gamma(rgb, 1.0 / _scale(e.amount, 0.45)),
        ToneOp.DARKER: lambda rgb, e, _: _gamma(rgb, 1.0 / _scale(-e.amount, 0.45)),
        ToneOp.CONTRAST: lambda rgb, e, _: _contrast(rgb, _scale(e.amount, 0.35)),
        ToneOp.SATURATION: lambda rgb, e, _: _saturation(rgb, _scale(e.amount, 0.5)),
        ToneOp.TINT: _tint_edit,
    }
)


def apply(rgb: U8, edit: Edit, ctx: Context) -> U8:
    """Apply one tone/colour edit to an RGB uint8 array."""
    return HANDLERS[ToneOp(edit.op)](rgb, edit, ctx)
