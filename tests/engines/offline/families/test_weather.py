"""Weather and light: each effect is visible where it should be, and seeded."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from imagine.engines.offline.families import weather
from tests.engines.offline.support import Array, ctx_for, edit, luma

Scene = tuple[Array, npt.NDArray[np.bool_]]


def run(rgb: Array, op: str, seed: int = 0, amount: float = 1.0) -> Array:
    return weather.apply(rgb, edit("weather", op, amount=amount), ctx_for(rgb, seed))


def test_rain_draws_light_streaks_and_follows_the_seed(car: Scene) -> None:
    rgb = car[0]
    out = run(rgb, "rain")
    sky = (slice(0, 60), slice(None))
    # streaks: pixels well above the (darkened) sky around them
    base = np.median(luma(out[sky]))
    assert (luma(out[sky]) > base + 25).mean() > 0.01
    assert np.array_equal(out, run(rgb, "rain", seed=0))
    assert not np.array_equal(out, run(rgb, "rain", seed=1))


def test_reflections_mirror_the_car_into_the_road(car: Scene) -> None:
    rgb, mask = car
    out = run(rgb, "reflections")
    bottom = int(np.nonzero(mask.any(axis=1))[0].max())
    below = slice(bottom + 15, min(rgb.shape[0], bottom + 55))
    cols = mask.any(axis=0)
    # under the red car the road picks up red; the sky is untouched
    red_gain = (
        out[below][:, cols, 0].astype(np.float32).mean()
        - out[below][:, cols, 2].astype(np.float32).mean()
    )
    red_before = (
        rgb[below][:, cols, 0].astype(np.float32).mean()
        - rgb[below][:, cols, 2].astype(np.float32).mean()
    )
    assert red_gain > red_before + 10
    assert np.array_equal(out[:60], rgb[:60])


def test_snow_adds_white_flakes(car: Scene) -> None:
    rgb = car[0]
    out = run(rgb, "snow")
    assert (out.min(axis=2) > 235).mean() > (rgb.min(axis=2) > 235).mean() + 0.005


def test_fog_lowers_contrast_and_whitens(car: Scene) -> None:
    rgb = car[0]
    out = run(rgb, "fog")
    assert luma(out).std() < luma(rgb).std() * 0.7
    assert luma(out).mean() > luma(rgb).mean()


def test_vignette_darkens_corners_not_centre(car: Scene) -> None:
    rgb = car[0]
    out = run(rgb, "vignette")
    h, w = rgb.shape[:2]
    assert luma(out)[:10, :10].mean() < luma(rgb)[:10, :10].mean() * 0.75
    centre = (slice(h // 2 - 10, h // 2 + 10), slice(w // 2 - 10, w // 2 + 10))
    assert np.abs(luma(out)[centre] - luma(rgb)[centre]).max() < 2
