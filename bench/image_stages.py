"""The image path per stage, in CPU ms, on photo-like inputs (not gradients).

Input: a 1280×960 (~1.2 MP) camera-style JPEG (bench/photo.py), edited to 4:3 (1168×880),
as in bench/run_all.py; plus a 12 MP JPEG for the upload transcode, and a 1392×752 result
as a provider returns it. Each figure is the median CPU time (time.process_time, all
threads) of `--repeat` runs; `was` rows are the previous implementation, for the ratio.
Prints a table and writes bench/results/image_stages.json.

Run: PYTHONPATH=src .venv/bin/python bench/image_stages.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))

from photo import photo_like, sample_photo

from imagine import images
from imagine.engines.offline.render import render
from imagine.engines.payload import prepare_source
from imagine.images.encoding import _CV2_PNG

W, H = 1168, 880  # the contract's 4:3 size


def cpu_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median CPU ms of `repeat` calls, and the last result."""
    samples, out = [], None
    for _ in range(repeat):
        started = time.process_time()
        out = fn()
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples), out


def _save(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "image_stages.json",
    )
    args = parser.parse_args()
    r = args.repeat
    photo = photo_like(1280, 960)
    jpeg = _save(photo, "JPEG", quality=90)
    big = _save(photo_like(4000, 3000), "JPEG", quality=90)
    result = photo_like(1392, 752, seed=11)
    result_jpeg, result_png = _save(result, "JPEG", quality=95), _save(result, "PNG")

    rows: list[tuple[str, float, str]] = []

    def row(name: str, fn: Callable[[], Any], note: Callable[[Any], str] = lambda _: "") -> Any:
        ms, out = cpu_ms(fn, r)
        rows.append((name, ms, note(out)))
        return out

    size = lambda b: f"{len(b) / 1024:.0f} KB"  # noqa: E731
    decoded = row(
        "decode 1.2 MP JPEG (draft)",
        lambda: images.decode(jpeg, max_pixels=40_000_000, draft_size=(W, H)),
    )
    covered = row("cover -> 1168x880 (OpenCV INTER_AREA)", lambda: images.cover(decoded, W, H))
    row(
        "  was: Pillow LANCZOS fit", lambda: ImageOps.fit(decoded, (W, H), Image.Resampling.LANCZOS)
    )
    edited = row(
        "offline render, pass-through prompt",
        lambda: render(covered, "keep the photo exactly as it is", 0)[0],
    )
    row("encode PNG (fpng)", lambda: images.encode(edited, "png"), size)
    arr = cv2.cvtColor(__import__("numpy").asarray(edited), cv2.COLOR_RGB2BGR)
    row(
        "  fallback: OpenCV PNG level 1 RLE",
        lambda: bytes(cv2.imencode(".png", arr, _CV2_PNG)[1]),
        size,
    )
    row("  was: Pillow PNG level 6", lambda: _save(edited, "PNG", compress_level=6), size)
    row("  Pillow PNG level 1", lambda: _save(edited, "PNG", compress_level=1), size)
    row("encode JPEG q92 (Pillow, no optimize)", lambda: images.encode(edited, "jpeg"), size)
    row(
        "  was: Pillow JPEG q92 optimize",
        lambda: _save(edited, "JPEG", quality=92, optimize=True),
        size,
    )

    def offline_total() -> bytes:
        img = images.decode(jpeg, max_pixels=40_000_000, draft_size=(W, H))
        out, _ = render(images.cover(img, W, H), "keep the photo exactly as it is", 0)
        return images.encode(out, "png")

    row("TOTAL offline 1.2 MP JPEG -> PNG (goal <= 40)", offline_total, size)
    row(
        "prepare_source, acceptable 1.2 MP JPEG (as is)",
        lambda: prepare_source(jpeg, decode_max_pixels=40_000_000),
        lambda s: size(s.data),
    )
    row(
        "prepare_source, 12 MP JPEG (fast transcode)",
        lambda: prepare_source(big, decode_max_pixels=40_000_000),
        lambda s: size(s.data),
    )
    row(
        "  was: decode+cover+PNG upload of 12 MP",
        lambda: images.encode(
            images.cover(
                images.decode(big, max_pixels=40_000_000, draft_size=(1360, 768)), 1360, 768
            ),
            "png",
        ),
    )
    row(
        "validate_result 1392x752 JPEG",
        lambda: images.validate_result(result_jpeg, max_pixels=40_000_000),
    )
    row(
        "validate_result 1392x752 PNG",
        lambda: images.validate_result(result_png, max_pixels=40_000_000),
    )
    row(
        "  was: decode result JPEG + re-encode PNG",
        lambda: _save(Image.open(io.BytesIO(result_jpeg)).convert("RGB"), "PNG"),
    )
    astronaut = sample_photo()
    if astronaut is not None:  # a real photo, when scikit-image is installed
        row(
            "encode PNG (fpng), skimage astronaut 1 MP",
            lambda: images.encode(astronaut, "png"),
            size,
        )
        row(
            "  was: Pillow PNG level 6, astronaut",
            lambda: _save(astronaut, "PNG", compress_level=6),
            size,
        )

    print(f"image path per stage, CPU ms (median of {r}); shared machines add noise")
    for name, ms, note in rows:
        print(f"{name:52s} {ms:8.2f}  {note}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps([{"stage": n, "cpu_ms": ms, "note": note} for n, ms, note in rows], indent=2)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
