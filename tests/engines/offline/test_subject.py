"""Main-subject finding: overlaps the drawn subject, deterministic, never fails."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from imagine.engines.offline.subject import find_subject
from tests.engines.offline.support import Array, ctx_for

Scene = tuple[Array, npt.NDArray[np.bool_]]


def iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize(("scene", "floor"), [("blob", 0.85), ("car", 0.7)])
def test_subject_overlaps_the_drawn_one(
    scene: str, floor: float, request: pytest.FixtureRequest
) -> None:
    rgb, truth = request.getfixturevalue(scene)
    mask = find_subject(rgb)
    assert mask.shape == rgb.shape[:2] and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert iou(mask > 0.5, truth) > floor


def test_subject_is_deterministic(car: Scene) -> None:
    assert np.array_equal(find_subject(car[0]), find_subject(car[0]))


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 500, 3), (64, 64, 3)])
def test_flat_or_tiny_images_fall_back_to_a_centre_mask(shape: tuple[int, int, int]) -> None:
    mask = find_subject(np.full(shape, 128, np.uint8))
    assert mask.shape == shape[:2]
    assert np.isfinite(mask).all()


def test_context_computes_the_mask_once(car: Scene) -> None:
    ctx = ctx_for(car[0])
    assert ctx.subject_mask() is ctx.subject_mask()
