"""The sizes FLUX.1 Kontext was trained on, and which one serves each aspect ratio."""

from __future__ import annotations

import math

from imagine.catalog import ASPECT_SIZES

# (width, height), from the reference pipeline (CONTRACT.md, local FLUX.1 Kontext [dev]).
KONTEXT_SIZES: tuple[tuple[int, int], ...] = (
    (672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248),
    (880, 1184), (944, 1104), (1024, 1024), (1104, 944), (1184, 880), (1248, 832),
    (1328, 800), (1392, 752), (1456, 720), (1504, 688), (1568, 672),
)  # fmt: skip


def kontext_size(aspect_ratio: str) -> tuple[int, int]:
    """The trained size whose shape is nearest the ratio (log scale), e.g. 16:9 → 1392×752."""
    w, h = (int(part) for part in aspect_ratio.split(":"))
    want = math.log(w / h)
    return min(KONTEXT_SIZES, key=lambda size: abs(math.log(size[0] / size[1]) - want))


def size_for(aspect_ratio: str) -> tuple[int, int]:
    """`kontext_size` for a ratio of the contract's table (ValueError for another)."""
    if aspect_ratio not in ASPECT_SIZES:
        raise ValueError(f"unknown aspect ratio {aspect_ratio!r}")
    return kontext_size(aspect_ratio)
