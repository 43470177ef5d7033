"""Helpers for the offline engine tests: contexts, edits and image measurements."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from imagine.engines.offline.rules import Edit, Family
from imagine.engines.offline.subject import Context
from imagine.engines.offline.vision.base import Vision

Array = npt.NDArray[np.uint8]


def ctx_for(rgb: Array, seed: int = 0, vision: Vision | None = None) -> Context:
    """A fresh per-render context (GrabCut only unless given the vision models)."""
    return Context(original=rgb, rng=np.random.default_rng(seed), vision=vision)


def edit(family: Family, op: str, **kwargs: object) -> Edit:
    """Shorthand for an Edit."""
    return Edit(family, op, **kwargs)  # type: ignore[arg-type]


def luma(rgb: Array) -> npt.NDArray[np.float32]:
    """Rec. 601 luma as float."""
    x = rgb[..., :3].astype(np.float32)
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


def hf_energy(rgb: Array, where: npt.NDArray[np.bool_] | None = None) -> float:
    """Mean squared Laplacian: how much fine detail an image (region) has."""
    lap = cv2.Laplacian(luma(rgb), cv2.CV_32F)
    return float((lap[where] if where is not None else lap).__pow__(2).mean())


def border(shape: tuple[int, ...], width: int = 12) -> npt.NDArray[np.bool_]:
    """A frame of the given width around the picture."""
    ring = np.ones(shape[:2], bool)
    ring[width:-width, width:-width] = False
    return ring
