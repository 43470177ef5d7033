"""The model catalog: ids, prices and kinds. Which engine serves a model is configuration."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
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


@dataclass(frozen=True)
class Param:
    """An optional request field some models take (catalog `params`), passed to the engine."""

    name: str
    kind: type  # float, int or bool
    low: float | None = None
    high: float | None = None

    def problem(self, value: object) -> str | None:
        """Why `value` cannot be used (None: it can)."""
        if self.kind is bool:
            return None if isinstance(value, bool) else f"{self.name} must be a boolean"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{self.name} must be a number"
        if self.kind is int and not isinstance(value, int):
            return f"{self.name} must be an integer"
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            return f"{self.name} must be between {self.low:g} and {self.high:g}"
        return None


# The tuning fields of FLUX.2 [flex], as the provider's API reference documents them
# ("Generate or edit an image with FLUX.2 [FLEX]", schema Flux2FlexInputs): guidance 1.5–10
# (default 5), steps 1–50 (default 50), prompt_upsampling (default true). A request that
# leaves one out gets the provider's default.
PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        Param("guidance", float, 1.5, 10.0),
        Param("steps", int, 1, 50),
        Param("prompt_upsampling", bool),
    )
}
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
    # Per engine, the id for text-to-image when it differs from `engines` (fal serves
    # FLUX.2 editing and generation as two apps).
    generate_engines: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    params: tuple[str, ...] = ()  # optional request fields it takes (names in PARAMS)

    @property
    def kinds(self) -> list[str]:
        """The kinds as a list: ["edit"], ["generate"] or ["edit", "generate"]."""
        return self.kind.split("+")

    @property
    def requires_image(self) -> bool:
        """A model that cannot generate from text alone needs an input image."""
        return "generate" not in self.kinds

    def upstream_id(self, engine: str, kind: str = "edit") -> str | None:
        """The provider's id for this model on `engine` (for `kind`: "edit" or "generate"),
        or None if it does not serve it."""
        if kind == "generate" and engine in self.generate_engines:
            return self.generate_engines[engine]
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
    engines, generate_engines = _engine_ids(entry.get("engines", {}), kinds, bad)
    params = entry.get("params", [])
    if not isinstance(params, list) or any(p not in PARAMS for p in params):
        raise bad(f"params must be a list of: {', '.join(PARAMS)}")
    return Model(
        id=model_id,
        price=price,
        kind="+".join(k for k in KINDS if k in kinds),
        description=str(entry.get("description", "")),
        family=str(entry.get("family", "")),
        max_images=max_images,
        sizing=sizing,
        ratios=tuple(ratios),
        engines=MappingProxyType(engines),
        generate_engines=MappingProxyType(generate_engines),
        params=tuple(params),
    )


def _engine_ids(
    engines: Any, kinds: list[str], bad: Callable[[str], CatalogError]
) -> tuple[dict[str, str], dict[str, str]]:
    """`engines` as (id per engine, text-to-image id per engine where it differs).

    An engine's entry is one id (for every kind), or a table `{ edit = "...", generate =
    "..." }` naming an id for each kind the model has.
    """
    problem = "engines must map engine names to the provider's model ids"
    if not isinstance(engines, dict):
        raise bad(problem)
    edit_ids: dict[str, str] = {}
    generate_ids: dict[str, str] = {}
    for name, value in engines.items():
        if isinstance(value, str) and value:
            edit_ids[name] = value
            continue
        if not isinstance(value, dict) or set(value) - set(KINDS):
            raise bad(problem + ' (one id, or a table { edit = "...", generate = "..." })')
        if any(k not in value or not isinstance(value[k], str) or not value[k] for k in kinds):
            raise bad(f"engines.{name} must name an id for each kind: {', '.join(kinds)}")
        edit_ids[name] = value.get("edit") or value["generate"]
        if "generate" in kinds and value["generate"] != edit_ids[name]:
            generate_ids[name] = value["generate"]
    return edit_ids, generate_ids


def default_catalog() -> dict[str, Model]:
    """The bundled catalog (the contract's two Kontext models and the FLUX.2 family)."""
    return load_catalog(None)
