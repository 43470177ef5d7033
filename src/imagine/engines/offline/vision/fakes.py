"""Fakes of the vision interfaces for tests: fixed answers, no model files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from imagine.engines.offline.imaging import F32, U8
from imagine.engines.offline.vision.base import Detection


@dataclass
class FakeDetector:
    """Answers the given detections (boxes in pixels of the image it is shown)."""

    found: Sequence[Detection] = ()
    calls: int = 0

    def detect(self, rgb: U8) -> list[Detection]:
        """The configured detections, best first."""
        self.calls += 1
        return sorted(self.found, key=lambda d: -d.score)


@dataclass
class FakeSegmenter:
    """Segments by a rule on the pixels (default: everything brighter than mid-grey)."""

    rule: Callable[[U8], F32] = field(
        default=lambda rgb: (rgb[..., :3].mean(axis=2) > 127).astype(np.float32)
    )
    calls: int = 0

    def mask(self, rgb: U8) -> F32:
        """The rule's mask of the image."""
        self.calls += 1
        return self.rule(rgb)


@dataclass
class FakeSafetyClassifier:
    """Answers a fixed NSFW score and remembers how often it was asked."""

    value: float = 0.0
    calls: int = 0

    def score(self, rgb: U8) -> float:
        """The configured score."""
        self.calls += 1
        return self.value
