"""Per-family timing of the offline engine on a one-megapixel photo, on one core.

Usage: python bench/offline_families.py [--repeat 5] [--size 1024x1024] [--photo astronaut]
Prints a table and writes JSON to bench/results/offline_families-<utc time>.json.
Each timing is one full render() (parse + subject finding where used + the edit), median of
--repeat runs, so the subject mask is never reused across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
from PIL import Image, ImageOps

from imagine.engines.offline.render import render
from imagine.engines.offline.samples import car_scene

# one representative instruction per operation, grouped by family
CASES: dict[str, list[str]] = {
    "tone": [
        "black and white",
        "sepia",
        "vintage",
        "warmer",
        "cooler",
        "brighter",
        "darker",
        "more contrast",
        "more saturation",
        "night",
        "golden hour",
        "invert",
    ],
    "filters": ["blur", "sharpen", "pixelate", "cartoon", "pencil sketch", "hdr"],
    "geometry": ["rotate 90 degrees", "rotate 15 degrees", "flip", "zoom in"],
    "subject": [
        "make the car blue",
        "change the car color to matte black",
        "blur the background",
        "remove the background",
        "make the background white",
        "make the background black and white",
    ],
    "weather": ["add rain", "wet road reflections", "add snow", "add fog", "add a vignette"],
    "text": ["add the text 'SALE' at the top"],
    "seed": ["change the car color to matte black and add rain reflections on the road"],
}


def load(photo: str, width: int, height: int) -> Image.Image:
    """The drawn car scene, or a bundled scikit-image sample cropped and resized to cover."""
    if not photo:
        return car_scene(width, height)[0]
    from skimage import data  # the gallery extra; only needed for --photo

    pixels = getattr(data, photo)()
    return ImageOps.fit(Image.fromarray(pixels).convert("RGB"), (width, height))


def main() -> None:
    """Time every case and print/write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", default="1024x1024", help="WIDTHxHEIGHT, ~1 MP by default")
    parser.add_argument(
        "--photo",
        default="",
        help="a scikit-image sample (needs the gallery "
        "extra) instead of the drawn car scene, e.g. astronaut, coffee",
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    # one core: OpenCV would otherwise spread filters over every CPU
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    image = load(args.photo, width, height)
    render(image, "blur", 0)  # warm-up: imports, allocator, font loading

    rows: list[dict[str, object]] = []
    for family, instructions in CASES.items():
        for instruction in instructions:
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                _, warnings = render(image, instruction, 0)
                times.append((time.perf_counter() - start) * 1000)
            rows.append(
                {
                    "family": family,
                    "instruction": instruction,
                    "median_ms": round(statistics.median(times), 1),
                    "max_ms": round(max(times), 1),
                    "warnings": warnings,
                }
            )

    print(
        f"offline engine, {args.photo or 'car scene'} {width}x{height}, one core, "
        f"median of {args.repeat}"
    )
    print(f"{'family':9} {'median ms':>9} {'max ms':>7}  instruction")
    for row in rows:
        family, median, worst = row["family"], row["median_ms"], row["max_ms"]
        print(f"{family:9} {median:>9} {worst:>7}  {row['instruction']}")
    summary = {}
    for family in CASES:
        worst = max(float(str(r["median_ms"])) for r in rows if r["family"] == family)
        summary[family] = worst
    print(
        "slowest per family (median ms): " + ", ".join(f"{f} {ms:.0f}" for f, ms in summary.items())
    )

    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"offline_families-{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "photo": args.photo or "car_scene",
                "size": [width, height],
                "repeat": args.repeat,
                "threads": 1,
                "machine": platform.machine(),
                "python": platform.python_version(),
                "opencv": cv2.__version__,
                "slowest_per_family_ms": summary,
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
