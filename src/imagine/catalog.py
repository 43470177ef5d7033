"""The model catalog: ids, prices and kinds. Which engine serves a model is configuration."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

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


KINDS = ("edit", "generate")
SIZINGS = ("aspect_ratio", "width_height")
BUNDLED = Path(__file__).with_name("catalog.toml")


@dataclass(frozen=True)
class Model:
    """One model clients can ask for, as the catalog file describes it.

    `engines` maps an engine name to the provider's own id for the model (bfl endpoint,
    fal app, Replicate model); an engine not listed does not serve it. Local engines
    (offline) serve every model and need no entry.
    """

    id: str
    price: int
    kind: str  # "edit", "generate" or "edit+generate"
    description: str
    family: str = ""
    max_images: int = 1
    sizing: str = "aspect_ratio"
    ratios: tuple[str, ...] = tuple(ASPECT_SIZES)
    engines: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def kinds(self) -> list[str]:
        """The kinds as a list: ["edit"], ["generate"] or ["edit", "generate"]."""
        return self.kind.split("+")

    @property
    def requires_image(self) -> bool:
        """A model that cannot generate from text alone needs an input image."""
        return "generate" not in self.kinds

    def upstream_id(self, engine: str) -> str | None:
        """The provider's id for this model on `engine`, or None if it does not serve it."""
        return self.engines.get(engine)


class CatalogError(ValueError):
    """A catalog file that cannot be used (the message names the file and the problem)."""


def load_catalog(path: str | Path | None = None) -> dict[str, Model]:
    """The catalog from `path` (a TOML file), or the bundled one when None or empty."""
    source = Path(path) if path else BUNDLED
    try:
        with source.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise CatalogError(f"catalog file {source}: cannot be read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog file {source}: not valid TOML ({exc})") from exc
    entries = data.get("models")
    if not isinstance(entries, dict) or not entries:
        raise CatalogError(f"catalog file {source}: no [models.<id>] tables")
    return {mid: _model(source, mid, entry) for mid, entry in entries.items()}


def _model(source: Path, model_id: str, entry: Any) -> Model:
    def bad(problem: str) -> CatalogError:
        return CatalogError(f"catalog file {source}: model {model_id}: {problem}")

    if not isinstance(entry, dict):
        raise bad("must be a table")
    kinds = entry.get("kind", ["edit"])
    if isinstance(kinds, str):
        kinds = [kinds]
    if not kinds or not all(k in KINDS for k in kinds):
        raise bad(f"kind must be a list of {', '.join(KINDS)}")
    price = entry.get("price")
    if not isinstance(price, int) or isinstance(price, bool) or price < 0:
        raise bad("price must be a whole number of credits, 0 or more")
    max_images = entry.get("max_images", 1 if "generate" not in kinds else 8)
    if not isinstance(max_images, int) or isinstance(max_images, bool) or not max_images >= 0:
        raise bad("max_images must be a whole number, 0 or more")
    if "edit" in kinds and max_images < 1:
        raise bad("an edit model takes at least one image (max_images >= 1)")
    sizing = entry.get("sizing", "aspect_ratio")
    if sizing not in SIZINGS:
        raise bad(f"sizing must be one of: {', '.join(SIZINGS)}")
    ratios = entry.get("ratios", list(ASPECT_SIZES))
    if not isinstance(ratios, list) or not ratios or any(r not in ASPECT_SIZES for r in ratios):
        raise bad(f"ratios must be a list of: {', '.join(ASPECT_SIZES)}")
    engines = entry.get("engines", {})
    if not isinstance(engines, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in engines.items()
    ):
        raise bad("engines must map engine names to the provider's model ids")
    return Model(
        id=model_id,
        price=price,
        kind="+".join(k for k in KINDS if k in kinds),
        description=str(entry.get("description", "")),
        family=str(entry.get("family", "")),
        max_images=max_images,
        sizing=sizing,
        ratios=tuple(ratios),
        engines=MappingProxyType(dict(engines)),
    )


def default_catalog() -> dict[str, Model]:
    """The bundled catalog (the contract's two Kontext models and the FLUX.2 family)."""
    return load_catalog(None)
