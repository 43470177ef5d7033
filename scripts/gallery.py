"""Render the offline engine's before/after gallery into docs/gallery/ (JPEGs + README.md).

Usage: pip install -e '.[gallery]' && python scripts/gallery.py
Photos: scikit-image's bundled sample images (inside the wheel, no download) and the drawn
car scene from imagine.engines.offline.samples. Output is deterministic (seed 0).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from skimage import data

from imagine.engines.offline.render import render
from imagine.engines.offline.samples import car_scene

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
    "rocket": (
        lambda: Image.fromarray(data.rocket()),
        (1248, 832),
        "scikit-image `data.rocket()` — SpaceX (DSCOVR launch), public domain",
    ),
}

EXAMPLES: list[tuple[str, str]] = [
    ("car", "change the car color to matte black and add rain reflections on the road"),
    ("car", "paint the car metallic blue and make it golden hour"),
    ("car", "turn day into night, add fog and a vignette"),
    ("car", "add snow, and add the text 'WINTER SALE' at the top"),
    ("astronaut", "blur the background"),
    ("astronaut", "make it black and white with much more contrast"),
    ("astronaut", "remove the background"),
    ("coffee", "make the background black and white"),
    ("cat", "make it look like a cartoon"),
    ("coffee", "turn it into a pencil sketch"),
    ("coffee", 'make it warmer and add the text "Good morning" at the bottom'),
    ("rocket", "give it a vintage film look"),
    ("rocket", "HDR, then rotate 15 degrees and zoom in slightly"),
    ("cat", "pixelate it"),
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
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    prepared = {name: prepare(load(), size) for name, (load, size, _) in SOURCES.items()}
    for name, image in prepared.items():
        for_jpeg(image).save(out / f"{name}-before.jpg", quality=QUALITY, optimize=True)

    rows = []
    for index, (source, instruction) in enumerate(EXAMPLES, start=1):
        start = time.perf_counter()
        edited, warnings = render(prepared[source], instruction, 0)
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

What the `offline` engine (classical image processing, no model weights, no network) does
with plain-English instructions. Each row is one call to
`imagine.engines.offline.render.render(image, instruction, seed=0)` on a photo prepared at
the service's output size; the JPEGs here are shrunk to {WIDTH} px wide. The last column is
the `warnings` list the API returns — the engine says what it did not apply.

Regenerate with `pip install -e '.[gallery]' && python scripts/gallery.py`
(deterministic: the same inputs give the same pictures).

## What it understands

Instructions are split into clauses (`,` `;` `and` `then` …); each clause is matched against
the families below, with common paraphrases and small typos tolerated. Amount words
(`slightly`, `a bit`, `much`, `very`, `20%`) scale an edit; `less`/`reduce` reverse it.

{vocabulary}

The "subject" is the main subject found by GrabCut seeded from the centre of the frame; the
engine does not recognise objects, so "the car" means "the main subject", and parts of the
scene it cannot find ("make the sky purple") are reported in `warnings`, not guessed.

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
