"""Geometry: rotations, flips and zoom, on RGB and RGBA arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from imagine.engines.offline.families import geometry
from tests.engines.offline.support import Array, ctx_for, edit


def run(img: Array, op: str, **kw: object) -> Array:
    return geometry.apply(img, edit("geometry", op, **kw), ctx_for(img[..., :3]))


images = arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([3, 4])))


@settings(max_examples=40, deadline=None)
@given(images)
def test_rotate_90_is_a_clockwise_quarter_turn(img: Array) -> None:
    out = run(img, "rotate", angle=90.0)
    assert out.shape == (img.shape[1], img.shape[0], img.shape[2])
    assert np.array_equal(out, np.rot90(img, k=-1))
    assert np.array_equal(run(img, "rotate", angle=-90.0), np.rot90(img, k=1))


@settings(max_examples=40, deadline=None)
@given(images)
def test_flip_twice_and_rotate_180_twice_are_identity(img: Array) -> None:
    for kw in ({"vertical": True}, {"vertical": False}):
        assert np.array_equal(run(run(img, "flip", **kw), "flip", **kw), img)
    assert np.array_equal(run(run(img, "rotate", angle=180.0), "rotate", angle=180.0), img)


def test_horizontal_flip_mirrors_columns(car: tuple[Array, object]) -> None:
    assert np.array_equal(run(car[0], "flip"), car[0][:, ::-1])


@pytest.mark.parametrize("angle", [15.0, -30.0, 45.0])
def test_small_angles_keep_size_and_fill_the_corners(
    car: tuple[Array, object], angle: float
) -> None:
    out = run(car[0], "rotate", angle=angle)
    assert out.shape == car[0].shape
    assert not np.array_equal(out, car[0])
    assert out[0, 0].sum() > 0 and out[-1, -1].sum() > 0  # no black wedges


def test_zoom_keeps_size_and_enlarges_the_centre(car: tuple[Array, object]) -> None:
    rgb = car[0]
    out = run(rgb, "zoom", amount=1.0)  # factor 1.4
    assert out.shape == rgb.shape
    h, w = rgb.shape[:2]
    # the output's centre row band matches the input's centre, stretched
    assert np.abs(out[h // 2, w // 2].astype(int) - rgb[h // 2, w // 2]).max() < 25
    assert not np.array_equal(out, rgb)


def test_alpha_travels_with_the_pixels() -> None:
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)
    out = run(rgba, "rotate", angle=90.0)
    assert tuple(out[0, -1]) == (255, 0, 0, 255)
