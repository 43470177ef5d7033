"""Masks of named objects and of "the subject", from a detector and a salient-object
segmenter: the segmenter runs inside each detected box (so "the cat" is the cat, not the
sofa it sits on), at the model's small input size, and the mask comes back to full size
edge-aware (guided filter on the photo)."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from imagine.engines.offline.imaging import F32, U8, guided_filter
from imagine.engines.offline.vision.base import Detection, Vision
from imagine.engines.offline.vision.labels import SCENERY_CLASSES

SEGMENTER_SIDE = 320  # U²-Net's input: the refine radius is scaled from it
BOX_MARGIN = 0.08  # context around a box helps the segmenter find the object's edge
# A salient-object model asked about a crop the object fills edge to edge (a tabby's face
# filling a square photo) answers with what stands out *inside* it (the eyes). Replicating
# the crop's edges outward puts the object back in the middle of a scene, where it is
# what stands out again (on the 1:1 `chelsea` crop: 5 % of the frame → the cat).
CROP_PAD = 0.25
SUBJECT_SCORE = 0.6  # a detection this sure joins "the subject" of background edits
MAX_SUBJECTS = 3  # each costs one segmenter run
_COVERED = 0.7  # a detection mostly inside the salient mask adds nothing: skip its run
_MIN_SUBJECT = 0.005  # below 0.5 % of the frame nothing stands out


def refine(rgb: U8, coarse: F32) -> F32:
    """Snap a coarse (upscaled) soft mask to the photo's edges; values stay in 0..1."""
    height, width = coarse.shape
    gray = cv2.cvtColor(rgb[..., :3], cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    radius = max(2, round(max(height, width) / SEGMENTER_SIDE * 1.5))
    out: F32 = np.clip(guided_filter(gray, coarse, radius, 1e-3), 0.0, 1.0).astype(np.float32)
    return out


def _padded(box: tuple[int, int, int, int], height: int, width: int) -> tuple[slice, slice]:
    x0, y0, x1, y1 = box
    dx, dy = round((x1 - x0) * BOX_MARGIN), round((y1 - y0) * BOX_MARGIN)
    return (
        slice(max(0, y0 - dy), min(height, y1 + dy)),
        slice(max(0, x0 - dx), min(width, x1 + dx)),
    )


class SceneMasks:
    """One photo's detections and masks, each computed once (per render)."""

    def __init__(self, vision: Vision, rgb: U8) -> None:
        self._vision = vision
        self._rgb = np.ascontiguousarray(rgb[..., :3])
        self._detections: list[Detection] | None = None
        self._boxes: dict[tuple[int, int, int, int], F32] = {}
        self._subject: F32 | None = None
        self._salient: F32 | None = None

    def detections(self) -> list[Detection]:
        """The objects in the photo, best first."""
        if self._detections is None:
            self._detections = self._vision.detector.detect(self._rgb)
        return self._detections

    def of(self, classes: Iterable[str]) -> list[Detection]:
        """The detections of the given COCO classes."""
        wanted = set(classes)
        return [d for d in self.detections() if d.label in wanted]

    def box_mask(self, detection: Detection) -> F32:
        """The segmenter's mask of what is inside a detection's box (0 outside the box)."""
        if detection.box not in self._boxes:
            height, width = self._rgb.shape[:2]
            rows, cols = _padded(detection.box, height, width)
            crop = np.ascontiguousarray(self._rgb[rows, cols])
            pad = round(CROP_PAD * max(crop.shape[:2]))
            padded = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            coarse = self._vision.segmenter.mask(np.asarray(padded, np.uint8))
            inside = refine(crop, np.ascontiguousarray(coarse[pad:-pad, pad:-pad]))
            full = np.zeros((height, width), np.float32)
            full[rows, cols] = inside
            self._boxes[detection.box] = full
        return self._boxes[detection.box]

    def union(self, detections: Iterable[Detection]) -> F32:
        """The union (pixel maximum) of the detections' masks."""
        out = np.zeros(self._rgb.shape[:2], np.float32)
        for detection in detections:
            np.maximum(out, self.box_mask(detection), out=out)
        return out

    def salient(self) -> F32:
        """The salient-object model's mask of the whole photo."""
        if self._salient is None:
            self._salient = refine(self._rgb, self._vision.segmenter.mask(self._rgb))
        return self._salient

    def subject(self) -> F32 | None:
        """The main subject(s): the salient object (what stands out, known to the detector
        or not: the astronaut's helmet, a rocket) plus every confident detection of a thing
        (not the furniture under it) that it does not already cover; None when nothing
        stands out."""
        if self._subject is None:
            mask = self.salient().copy()
            hard = mask > 0.5
            picked = [
                d
                for d in self.detections()
                if d.score >= SUBJECT_SCORE and d.label not in SCENERY_CLASSES
            ]
            for detection in picked[:MAX_SUBJECTS]:
                x0, y0, x1, y1 = detection.box
                if float(hard[y0:y1, x0:x1].mean()) < _COVERED:  # else: adds nothing, skip
                    np.maximum(mask, self.box_mask(detection), out=mask)
            self._subject = mask
        return self._subject if float((self._subject > 0.5).mean()) >= _MIN_SUBJECT else None
