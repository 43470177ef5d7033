"""Tone and colour edits change the picture the way their names say."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from imagine.engines.offline.colours import Colour
from imagine.engines.offline.families import tone
from tests.engines.offline.support import Array, ctx_for, edit, luma

small_images = arrays(np.uint8, st.tuples(st.integers(2, 12), st.integers(2, 12), st.just(3)))


def run(rgb: Array, op: str, amount: float = 1.0, **kw: object) -> Array:
    return tone.apply(rgb, edit("tone", op, amount=amount, **kw), ctx_for(rgb))


def spread(rgb: Array) -> float:
    """Mean distance of the channels from their mean: how colourful."""
    x = rgb.astype(np.float32)
    return float(np.abs(x - x.mean(axis=2, keepdims=True)).mean())


@settings(max_examples=40, deadline=None)
@given(small_images)
def test_grayscale_makes_channels_equal(rgb: Array) -> None:
    out = run(rgb, "grayscale")
    assert (out[..., 0] == out[..., 1]).all()
    assert (out[..., 1] == out[..., 2]).all()


@settings(max_examples=40, deadline=None)
@given(small_images)
def test_brighter_never_darkens_and_darker_never_brightens(rgb: Array) -> None:
    assert luma(run(rgb, "brighter")).mean() >= luma(rgb).mean() - 0.5
    assert luma(run(rgb, "darker")).mean() <= luma(rgb).mean() + 0.5


def test_brighter_and_darker_move_luminance(car: tuple[Array, object]) -> None:
    rgb = car[0]
    base = luma(rgb).mean()
    assert luma(run(rgb, "brighter")).mean() > base + 10
    assert luma(run(rgb, "darker")).mean() < base - 10
    assert luma(run(rgb, "brighter", 0.5)).mean() < luma(run(rgb, "brighter", 1.7)).mean()
    assert luma(run(rgb, "darker", -1.0)).mean() > base  # "less dark"


def test_sepia_is_brown(car: tuple[Array, object]) -> None:
    out = run(car[0], "sepia").astype(np.int32)
    assert (out[..., 0] >= out[..., 1]).mean() > 0.99
    assert (out[..., 1] >= out[..., 2]).mean() > 0.99


def test_vintage_lifts_blacks_and_is_seeded(car: tuple[Array, object]) -> None:
    rgb = car[0]
    out = run(rgb, "vintage")
    assert np.percentile(luma(out), 1) > np.percentile(luma(rgb), 1)
    assert np.array_equal(out, run(rgb, "vintage"))


def test_warmer_and_cooler_shift_red_against_blue(car: tuple[Array, object]) -> None:
    def red_blue(x: Array) -> float:
        return float(x[..., 0].astype(np.float32).mean() - x[..., 2].astype(np.float32).mean())

    base = red_blue(car[0])
    assert red_blue(run(car[0], "warmer")) > base + 5
    assert red_blue(run(car[0], "cooler")) < base - 5


def test_contrast_changes_spread_of_luminance(car: tuple[Array, object]) -> None:
    rgb = car[0]
    assert luma(run(rgb, "contrast", 1.0)).std() > luma(rgb).std() * 1.15
    assert luma(run(rgb, "contrast", -1.0)).std() < luma(rgb).std() * 0.85


def test_saturation_changes_colourfulness(car: tuple[Array, object]) -> None:
    rgb = car[0]
    assert spread(run(rgb, "saturation", 1.0)) > spread(rgb) * 1.2
    assert spread(run(rgb, "saturation", -1.0)) < spread(rgb) * 0.8


def test_night_is_darker_and_blue(car: tuple[Array, object]) -> None:
    out = run(car[0], "night").astype(np.float32)
    assert luma(out.astype(np.uint8)).mean() < luma(car[0]).mean() * 0.6
    assert out[..., 2].mean() > out[..., 0].mean()


def test_golden_hour_is_warm(car: tuple[Array, object]) -> None:
    out = run(car[0], "golden_hour").astype(np.float32)
    before = car[0].astype(np.float32)
    warmth_before = before[..., 0].mean() - before[..., 2].mean()
    assert out[..., 0].mean() - out[..., 2].mean() > warmth_before + 20


def test_invert_twice_is_identity(car: tuple[Array, object]) -> None:
    once = run(car[0], "invert")
    assert np.array_equal(once, 255 - car[0])
    assert np.array_equal(run(once, "invert"), car[0])


@pytest.mark.parametrize(("rgb", "channel"), [((255, 0, 0), 0), ((0, 0, 255), 2)])
def test_tint_pulls_toward_the_colour(
    car: tuple[Array, object], rgb: tuple[int, int, int], channel: int
) -> None:
    out = run(car[0], "tint", colour=Colour("x", rgb))
    gain = out[..., channel].astype(np.float32).mean() - car[0][..., channel].mean()
    assert gain > 5
