"""Shared pictures for the offline engine tests (small, so the suite stays fast)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from imagine.engines.offline.samples import blob_scene, car_scene

Array = npt.NDArray[np.uint8]


@pytest.fixture(scope="session")
def car() -> tuple[Array, npt.NDArray[np.bool_]]:
    """A 320×240 car scene and its ground-truth car mask."""
    img, mask = car_scene(320, 240)
    return np.asarray(img), np.asarray(mask) > 127


@pytest.fixture(scope="session")
def blob() -> tuple[Array, npt.NDArray[np.bool_]]:
    """A 256×192 orange disc on a textured backdrop and its mask."""
    img, mask = blob_scene(256, 192)
    return np.asarray(img), np.asarray(mask) > 127
