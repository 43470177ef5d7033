"""Subject-aware edits change the subject or the background, and leave the other alone."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from imagine.engines.offline.colours import Colour
from imagine.engines.offline.families import subject_edits
from tests.engines.offline.support import Array, border, ctx_for, edit, hf_energy, luma

Scene = tuple[Array, npt.NDArray[np.bool_]]


def run(rgb: Array, op: str, **kw: object) -> Array:
    return subject_edits.apply(rgb, edit("subject", op, **kw), ctx_for(rgb))


def test_recolour_to_black_darkens_the_subject_only(car: Scene) -> None:
    rgb, mask = car
    out = run(rgb, "recolour", colour=Colour("black", (0, 0, 0), "matte"), target="car")
    assert luma(out)[mask].mean() < luma(rgb)[mask].mean() * 0.6
    ring = border(rgb.shape)
    assert np.abs(out[ring].astype(int) - rgb[ring]).mean() < 1.0


def test_recolour_keeps_shading_and_takes_the_hue(blob: Scene) -> None:
    rgb, mask = blob
    out = run(rgb, "recolour", colour=Colour("blue", (0, 0, 255)))
    inside = out[mask].astype(np.float32)
    assert inside[:, 2].mean() > inside[:, 0].mean() + 80
    # shading survives: the painted region is not one flat colour
    assert luma(out)[mask].std() > 0.5


def test_matte_has_fewer_highlights_than_glossy(car: Scene) -> None:
    rgb, mask = car
    matte = run(rgb, "recolour", colour=Colour("red", (200, 0, 0), "matte"))
    glossy = run(rgb, "recolour", colour=Colour("red", (200, 0, 0), "glossy"))
    assert np.percentile(luma(matte)[mask], 99) < np.percentile(luma(glossy)[mask], 99)


def test_background_blur_blurs_outside_and_keeps_inside(car: Scene) -> None:
    rgb, mask = car
    out = run(rgb, "background_blur")
    outside = border(rgb.shape, 40)
    assert hf_energy(out, outside) < hf_energy(rgb, outside) * 0.3
    core = mask & ~border(rgb.shape, 2)
    assert hf_energy(out, core) > hf_energy(rgb, core) * 0.7


def test_remove_background_gives_alpha(car: Scene) -> None:
    rgb, mask = car
    out = run(rgb, "remove_background")
    assert out.shape == (*rgb.shape[:2], 4)
    assert np.array_equal(out[..., :3], rgb)
    alpha = out[..., 3]
    assert alpha[border(rgb.shape)].max() < 10
    assert np.median(alpha[mask]) > 200


def test_background_colour_fills_the_border(car: Scene) -> None:
    rgb, mask = car
    out = run(rgb, "background_colour", colour=Colour("blue", (0, 0, 255)))
    ring = out[border(rgb.shape)].astype(int)
    assert np.abs(ring - (0, 0, 255)).max() < 6
    assert np.abs(out[mask].astype(int) - rgb[mask]).mean() < 25


def test_background_gray_keeps_the_subject_colour(car: Scene) -> None:
    rgb, mask = car
    out = run(rgb, "background_gray")
    ring = out[border(rgb.shape)].astype(int)
    assert np.abs(ring[:, 0] - ring[:, 2]).max() <= 2
    inside = out[mask].astype(np.float32)
    assert inside[:, 0].mean() > inside[:, 2].mean() + 50  # the red car stays red
