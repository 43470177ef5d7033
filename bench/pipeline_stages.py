"""Time the CPU stages of one /imagine call (decode → cover → offline edit → encode).

Prints a table and writes bench/results/pipeline_stages.json.
Run: .venv/bin/python bench/pipeline_stages.py
"""

from __future__ import annotations

import io
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from imagine import images
from imagine.engines.offline.render import render


def _photo(size: tuple[int, int]) -> bytes:
    img = Image.radial_gradient("L").resize(size).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _time(fn: Callable[[], Any], repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    """Measure and print."""
    rows: list[dict[str, Any]] = []
    for label, size in [("1 MP", (1280, 800)), ("12 MP", (4032, 3024))]:
        data = _photo(size)
        decoded = images.decode(data, max_pixels=40_000_000)
        covered = images.cover(decoded, 1024, 1024)
        edited, _ = render(covered, "make it brighter and add more contrast", 0)
        rows.append(
            {
                "input": label,
                "decode_ms": _time(lambda d=data: images.decode(d, max_pixels=40_000_000)),
                "cover_ms": _time(lambda d=decoded: images.cover(d, 1024, 1024)),
                "offline_edit_ms": _time(
                    lambda c=covered: render(c, "make it brighter and add more contrast", 0)
                ),
                "encode_png_ms": _time(lambda e=edited: images.encode(e, "png")),
                "encode_jpeg_ms": _time(lambda e=edited: images.encode(e, "jpeg")),
            }
        )
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print(
            "| "
            + " | ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in row.values())
            + " |"
        )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "pipeline_stages.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
