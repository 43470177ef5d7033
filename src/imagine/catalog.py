"""The model catalog: ids, prices and kinds. Which engine serves a model is configuration."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

# The contract's aspect-ratio table: about one megapixel, sides multiples of 16.
ASPECT_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1360, 768),
    "9:16": (768, 1360),
    "4:3": (1168, 880),
    "3:4": (880, 1168),
    "3:2": (1248, 832),
    "2:3": (832, 1248),
}

AUTO_RATIO = "auto"  # extension: the table's ratio nearest the input's shape

DEFAULT_MODEL = "flux-kontext-max"


def nearest_ratio(width: int, height: int) -> str:
    """The table's ratio closest to `width`×`height` (compared on a log scale)."""
    shape = math.log(width / height)
    return min(ASPECT_SIZES, key=lambda r: abs(math.log(_ratio_value(r)) - shape))


def _ratio_value(ratio: str) -> float:
    w, h = ratio.split(":")
    return int(w) / int(h)


@dataclass(frozen=True)
class Model:
    """One model clients can ask for."""

    id: str
    price: int
    kind: Literal["edit"]
    description: str

    @property
    def requires_image(self) -> bool:
        """Edit models need an input image."""
        return self.kind == "edit"


def default_catalog(dev_price: int = 2) -> dict[str, Model]:
    """The contract's default catalog, plus the locally served FLUX.1 Kontext [dev]."""
    models = [
        Model("flux-kontext-max", 8, "edit", "FLUX.1 Kontext [max]: best prompt adherence"),
        Model("flux-kontext-pro", 4, "edit", "FLUX.1 Kontext [pro]: fast in-context editing"),
        Model(
            "flux-kontext-dev",
            dev_price,
            "edit",
            "FLUX.1 Kontext [dev]: open weights, on your own GPUs (diffusers engine)",
        ),
    ]
    return {m.id: m for m in models}
