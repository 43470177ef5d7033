"""Filters: each one measurably does what it says."""

from __future__ import annotations

import numpy as np

from imagine.engines.offline.families import filters
from tests.engines.offline.support import Array, ctx_for, edit, hf_energy, luma


def run(rgb: Array, op: str, amount: float = 1.0) -> Array:
    return filters.apply(rgb, edit("filters", op, amount=amount), ctx_for(rgb))


def test_blur_removes_fine_detail(car: tuple[Array, object]) -> None:
    rgb = car[0]
    assert hf_energy(run(rgb, "blur")) < hf_energy(rgb) * 0.3
    assert hf_energy(run(rgb, "blur", 2.0)) < hf_energy(run(rgb, "blur", 0.5))


def test_sharpen_adds_fine_detail(car: tuple[Array, object]) -> None:
    assert hf_energy(run(car[0], "sharpen")) > hf_energy(car[0]) * 1.5


def test_pixelate_makes_flat_blocks(car: tuple[Array, object]) -> None:
    out = run(car[0], "pixelate")
    # neighbouring pixels are mostly equal; only block borders differ
    same = (out[:, 1:] == out[:, :-1]).all(axis=2).mean()
    assert same > 0.8
    assert (car[0][:, 1:] == car[0][:, :-1]).all(axis=2).mean() < 0.5


def test_cartoon_flattens_colours_and_inks_edges(car: tuple[Array, object]) -> None:
    rgb = car[0]
    out = run(rgb, "cartoon")
    colours_before = len(np.unique(rgb.reshape(-1, 3), axis=0))
    colours_after = len(np.unique(out.reshape(-1, 3), axis=0))
    assert colours_after < colours_before * 0.2
    assert (luma(out) < 20).mean() > (luma(rgb) < 20).mean()  # dark ink lines appear


def test_sketch_is_grey_pencil_on_white(car: tuple[Array, object]) -> None:
    out = run(car[0], "sketch")
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    assert np.median(luma(out)) > 200  # mostly paper
    assert (luma(out) < 150).mean() > 0.005  # with some strokes


def test_hdr_raises_local_contrast(car: tuple[Array, object]) -> None:
    assert hf_energy(run(car[0], "hdr")) > hf_energy(car[0]) * 1.3


def test_filters_keep_shape_and_type(car: tuple[Array, object]) -> None:
    for op in ("blur", "sharpen", "pixelate", "cartoon", "sketch", "hdr"):
        out = run(car[0], op)
        assert out.shape == car[0].shape and out.dtype == np.uint8
