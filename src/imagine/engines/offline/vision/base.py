"""The vision interfaces: `Detector.detect`, `Segmenter.mask`, `SafetyClassifier.score`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from imagine.engines.offline.imaging import F32, U8


@dataclass(frozen=True)
class Detection:
    """One object found: its COCO class name, confidence and pixel box (x0, y0, x1, y1)."""

    label: str
    score: float
    box: tuple[int, int, int, int]

    @property
    def area(self) -> int:
        """Pixels covered by the box."""
        x0, y0, x1, y1 = self.box
        return max(0, x1 - x0) * max(0, y1 - y0)


class Detector(Protocol):
    """Finds the objects of an RGB image (COCO classes)."""

    def detect(self, rgb: U8) -> list[Detection]:
        """The objects found, best first."""
        ...


class Segmenter(Protocol):
    """Salient-object segmentation: which pixels belong to the main thing in the picture."""

    def mask(self, rgb: U8) -> F32:
        """A soft mask (H×W float32 in 0..1) of the most salient object of the RGB image."""
        ...


class SafetyClassifier(Protocol):
    """Scores how likely an image is not safe for work."""

    def score(self, rgb: U8) -> float:
        """NSFW probability, 0..1."""
        ...


@dataclass(frozen=True)
class Vision:
    """The models the offline engine edits through; `names` says which are active (for the
    startup log and GET /api/v1/models)."""

    detector: Detector
    segmenter: Segmenter
    names: list[str] = field(default_factory=list)
