"""Vision models of the offline engine at 1 MP on one core: per-model load and inference
time, then each object-aware edit end to end (a full render with the bundled models).

Usage: python bench/vision_models.py [--repeat 3] [--size 1024x1024]
Needs the `vision` extra and scikit-image (the photos). Prints a table and writes JSON to
bench/results/vision_models-<utc time>.json. Goal: every edit under 1.5 s per 1-MP image.
Each edit timing is one render() with a fresh per-render context (detections and masks are
never reused across runs); the models themselves stay loaded, as in the server.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from imagine.engines.offline.render import render_report
from imagine.engines.offline.vision.bundled import load_safety, load_vision

GOAL_MS = 1500.0
# (photo, instruction): each object-aware edit on a photo that has the object
EDITS: list[tuple[str, str]] = [
    ("chelsea", "make the cat blue"),
    ("coffee", "remove the background"),
    ("stereo_motorcycle", "blur the background"),
    ("astronaut", "make the background black and white"),
    ("astronaut", "blur the face"),
    ("chelsea", "crop to the cat"),
    ("coffee", "change the cup colour to green"),
    ("chelsea", "make the car red"),  # not in the picture: the detector alone
]


def photo(name: str, width: int, height: int) -> Image.Image:
    """A scikit-image sample, cropped and resized to cover width×height (as the API does)."""
    from skimage import data

    pixels = getattr(data, name)()
    pixels = pixels[0] if isinstance(pixels, tuple) else pixels
    return ImageOps.fit(Image.fromarray(pixels).convert("RGB"), (width, height))


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Median and max wall milliseconds of `repeat` calls, and the median CPU milliseconds
    of this process (on a shared machine the wall time also counts other processes' turns)."""
    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(times), max(times), statistics.median(cpu)


def main() -> None:
    """Time model loads, single inferences and whole edits; print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", default="1024x1024", help="WIDTHxHEIGHT, ~1 MP by default")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    cv2.setNumThreads(1)  # one core: the onnxruntime sessions already use one thread
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    vision = load_vision(None)
    safety = load_safety(None)
    if vision is None or safety is None:
        raise SystemExit("the `vision` extra is not installed")
    rgb = np.asarray(photo("astronaut", width, height))

    models: list[dict[str, object]] = []
    for name, call in [
        ("detector (SSD-MobileNet-v2)", lambda: vision.detector.detect(rgb)),
        ("segmenter (U²-NetP)", lambda: vision.segmenter.mask(rgb)),
        ("safety (open_nsfw)", lambda: safety[0].score(rgb)),
    ]:
        start = time.perf_counter()
        call()  # the first call loads the model
        first = (time.perf_counter() - start) * 1000
        median, _, cpu = timed(call, args.repeat)
        models.append(
            {
                "model": name,
                "load_ms": round(first - median, 1),
                "infer_ms": round(median, 1),
                "infer_cpu_ms": round(cpu, 1),
            }
        )
        print(
            f"{name:28} load {first - median:7.1f} ms   inference {median:7.1f} ms"
            f" (CPU {cpu:7.1f} ms)"
        )

    rows: list[dict[str, object]] = []
    for name, instruction in EDITS:
        image = photo(name, width, height)
        done = render_report(image, instruction, 0, vision=vision)
        run = partial(render_report, image, instruction, 0, vision=vision)
        median, worst, cpu = timed(run, args.repeat)
        rows.append(
            {
                "photo": name,
                "instruction": instruction,
                "median_ms": round(median, 1),
                "max_ms": round(worst, 1),
                "cpu_ms": round(cpu, 1),
                "applied": done.applied,
                "warnings": done.warnings,
            }
        )
    print(f"\nobject-aware edits, {width}x{height}, one core, median of {args.repeat}")
    print(f"{'median ms':>9} {'max ms':>7} {'CPU ms':>7}  {'photo':18} instruction")
    for row in rows:
        flag = "" if float(str(row["cpu_ms"])) < GOAL_MS else "  OVER GOAL"
        print(
            f"{row['median_ms']:>9} {row['max_ms']:>7} {row['cpu_ms']:>7}  {row['photo']!s:18} "
            f"{row['instruction']}{flag}"
        )
    slowest = max(float(str(r["median_ms"])) for r in rows)
    slowest_cpu = max(float(str(r["cpu_ms"])) for r in rows)
    print(
        f"slowest edit: {slowest:.0f} ms wall, {slowest_cpu:.0f} ms CPU"
        f" (goal < {GOAL_MS:.0f} ms per 1-MP image on one core)"
    )

    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"vision_models-{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "size": [width, height],
                "repeat": args.repeat,
                "threads": 1,
                "machine": platform.machine(),
                "python": platform.python_version(),
                "opencv": cv2.__version__,
                "models": models,
                "edits": rows,
                "slowest_edit_ms": slowest,
                "slowest_edit_cpu_ms": slowest_cpu,
            },
            indent=2,
        )
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
