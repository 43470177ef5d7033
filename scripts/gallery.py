"""Render the offline engine's before/after gallery into docs/gallery/ (JPEGs + README.md).

Usage: pip install -e '.[gallery,vision]' && python scripts/gallery.py
Photos: scikit-image's bundled sample images (inside the wheel, no download) and the drawn
car scene from imagine.engines.offline.samples. Output is deterministic (seed 0). With the
`vision` extra the object-aware edits use the bundled models, as the service does; without
it (or with --no-vision) the subject is GrabCut's guess, as in a service without the extra.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from skimage import data

from imagine.engines.offline.render import render_report
from imagine.engines.offline.samples import car_scene
from imagine.engines.offline.vision.bundled import load_vision

WIDTH = 512  # gallery JPEG width; keeps the committed folder to a few hundred KB
QUALITY = 80

# source name → (loader, the output size the service would prepare for it, credit)
SOURCES: dict[str, tuple[Callable[[], Image.Image], tuple[int, int], str]] = {
    "car": (
        lambda: car_scene(1360, 768)[0],
        (1360, 768),
        "drawn by `imagine.engines.offline.samples.car_scene`",
    ),
    "astronaut": (
        lambda: Image.fromarray(data.astronaut()),
        (1024, 1024),
        "scikit-image `data.astronaut()` — NASA, public domain",
    ),
    "cat": (
        lambda: Image.fromarray(data.chelsea()),
        (1168, 880),
        "scikit-image `data.chelsea()` — Stefan van der Walt, CC0",
    ),
    "coffee": (
        lambda: Image.fromarray(data.coffee()),
        (1168, 880),
        "scikit-image `data.coffee()` — Rachel Michetti, CC0",
    ),
    "motorcycle": (
        lambda: Image.fromarray(data.stereo_motorcycle()[0]),
        (1168, 880),
        "scikit-image `data.stereo_motorcycle()` — Middlebury stereo dataset (Scharstein et"
        " al.), CC0 in scikit-image",
    ),
    "rocket": (
        lambda: Image.fromarray(data.rocket()),
        (1248, 832),
        "scikit-image `data.rocket()` — SpaceX (DSCOVR launch), public domain",
    ),
}

EXAMPLES: list[tuple[str, str]] = [
    # object-aware edits (the bundled detector + segmenter), with their honest warnings
    ("cat", "make the cat blue"),
    ("coffee", "remove the background"),
    ("motorcycle", "blur the background"),
    ("astronaut", "remove the background"),
    ("coffee", "change the cup colour to green"),
    ("astronaut", "blur the face"),
    ("motorcycle", "crop to the motorcycle"),
    ("rocket", "make the sky purple"),
    ("cat", "make the background black and white"),
    ("cat", "make the car red"),
    ("cat", "make the cat's fur orange"),
    ("astronaut", "make the sky purple"),
    # the whole-image families
    ("motorcycle", "change the motorcycle color to matte black and add rain"),
    ("motorcycle", "paint the motorbike metallic blue and make it golden hour"),
    ("car", "change the car color to matte black and add rain reflections on the road"),
    ("car", "turn day into night, add fog and a vignette"),
    ("car", "add snow, and add the text 'WINTER SALE' at the top"),
    ("astronaut", "make it black and white with much more contrast"),
    ("cat", "make it look like a cartoon"),
    ("coffee", "turn it into a pencil sketch"),
    ("coffee", 'make it warmer and add the text "Good morning" at the bottom'),
    ("rocket", "give it a vintage film look"),
    ("rocket", "HDR, then rotate 15 degrees and zoom in slightly"),
    ("astronaut", "add a hat to the astronaut and make it sepia"),
]


# what the parser understands, per family (rendered as a table on the gallery page)
VOCABULARY: list[tuple[str, list[str]]] = [
    (
        "tone & colour",
        [
            "black and white",
            "sepia",
            "vintage / old photo",
            "warmer",
            "cooler",
            "brighter",
            "darker",
            "more/less contrast",
            "more/less saturation",
            "night",
            "golden hour / sunset",
            "invert",
            '"make it blue" (tint)',
        ],
    ),
    (
        "filters",
        ["blur", "sharpen", "pixelate", "cartoon / comic", "pencil sketch", "HDR / more detail"],
    ),
    (
        "geometry",
        [
            "rotate 90 / left / right / 15 degrees / upside down",
            "flip (horizontally, vertically)",
            "zoom in",
        ],
    ),
    (
        "subject",
        [
            "change the *thing* (colour) to *colour* — CSS names, shades like "
            '"dark blue", finishes matte / glossy / metallic',
            "blur the background",
            "remove the background (PNG with alpha)",
            "make the background *colour*",
            "make the background black and white",
            "blur the *object* (faces / people / …)",
            "crop to the *object*",
            "make the sky *colour* (where a sky is clearly there)",
        ],
    ),
    ("weather & light", ["rain", "wet road / reflections", "snow", "fog / mist", "vignette"]),
    ("text", ["add the text 'SALE' at the top / bottom / centre / top left … (in *colour*)"]),
]


def prepare(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Crop to cover and resize, like the service does before calling an engine."""
    return ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)


def for_jpeg(image: Image.Image) -> Image.Image:
    """Shrink to the gallery width; show transparency over a checkerboard."""
    height = round(image.height * WIDTH / image.width)
    small = image.resize((WIDTH, height), Image.Resampling.LANCZOS)
    if small.mode != "RGBA":
        return small.convert("RGB")
    ys, xs = np.mgrid[0:height, 0:WIDTH]
    checks = np.where(((ys // 16) + (xs // 16)) % 2 == 0, 235, 200).astype(np.uint8)
    board = Image.fromarray(np.repeat(checks[..., None], 3, axis=2))
    board.paste(small, (0, 0), small)
    return board


def main() -> None:
    """Render every example and write the Markdown page."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "docs/gallery")
    parser.add_argument("--no-vision", action="store_true", help="GrabCut, as without the extra")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*-after.jpg"):
        stale.unlink()
    vision = None if args.no_vision else load_vision(None)
    models = ", ".join(vision.names) if vision is not None else "none (GrabCut)"
    print(f"vision models: {models}")

    prepared = {name: prepare(load(), size) for name, (load, size, _) in SOURCES.items()}
    for name, image in prepared.items():
        for_jpeg(image).save(out / f"{name}-before.jpg", quality=QUALITY, optimize=True)

    rows = []
    for index, (source, instruction) in enumerate(EXAMPLES, start=1):
        start = time.perf_counter()
        done = render_report(prepared[source], instruction, 0, vision=vision)
        edited, warnings = done.image, done.warnings
        ms = (time.perf_counter() - start) * 1000
        filename = f"{index:02d}-{source}-after.jpg"
        for_jpeg(edited).save(out / filename, quality=QUALITY, optimize=True)
        note = "; ".join(warnings) if warnings else "—"
        rows.append(
            f"| {index} | {instruction} | ![before]({source}-before.jpg) | "
            f"![after]({filename}) | {note} |"
        )
        print(f"{index:2d} {ms:6.0f} ms  {instruction}  {warnings}")

    vocabulary = "\n".join(
        ["| family | examples |", "|---|---|"]
        + [f"| {family} | {' · '.join(examples)} |" for family, examples in VOCABULARY]
    )
    credits = "\n".join(f"- **{name}**: {credit}" for name, (_, _, credit) in SOURCES.items())
    (out / "README.md").write_text(f"""# Offline engine gallery

What the `offline` engine (classical image processing plus small bundled vision models on
the CPU, no network) does with plain-English instructions. Each row is one call to
`imagine.engines.offline.render.render_report(image, instruction, seed=0, vision=…)` on a
photo prepared at the service's output size; the JPEGs here are shrunk to {WIDTH} px wide.
The last column is the `warnings` list the API returns (after the notice that the offline
engine served the call) — the engine says what it did not apply, and why.

Vision models used for this page: {models}.

Regenerate with `pip install -e '.[gallery,vision]' && python scripts/gallery.py`
(deterministic: the same inputs give the same pictures).

## What it understands

Instructions are split into clauses (`,` `;` `and` `then` …); each clause is matched against
the families below, with common paraphrases and small typos tolerated. Amount words
(`slightly`, `a bit`, `much`, `very`, `20%`) scale an edit; `less`/`reduce` reverse it.

{vocabulary}

Objects are the 80 COCO classes with their everyday names ("the cat", "the man", "the
astronaut", "the mug", "the motorbike"): a detector finds them, a salient-object model cuts
them out inside the detected box, and "the background" is everything outside the subjects.
A named object that is not in the picture, a part of one ("the cat's fur"), or a sky that is
not clearly there is reported in `warnings` and the picture is left alone, never guessed.
Without the `vision` extra the subject is GrabCut's guess from the centre of the frame.

## Examples

| # | instruction | before | after | warnings |
|---|---|---|---|---|
{chr(10).join(rows)}

Photos:
{credits}
""")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
