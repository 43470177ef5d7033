"""JPEG draft decoding: decode + cover to 1024×1024 with and without `draft_size`.

Measures the best of 7 wall times and the peak size of the decoded image (what a request holds in
memory) for photo-sized JPEGs. Prints a table and writes bench/results/jpeg_draft.json.
Run: .venv/bin/python bench/jpeg_draft.py

Measured on the 2-core dev machine (best of 7, decode + cover to 1024×1024):

| input | full_ms | draft_ms | speedup | full_decoded_mb | draft_decoded_mb |
|---|---|---|---|---|---|
| 2 MP | 28.3 | 28.4 | 0.99 | 6.2 | 6.2 |
| 12 MP | 149.8 | 50.7 | 2.95 | 36.6 | 9.1 |
| 24 MP | 237.3 | 85.8 | 2.77 | 72.0 | 18.0 |
| 40 MP | 386.6 | 55.2 | 7.0 | 120.0 | 7.5 |

Draft never goes below the target on either side, so the cover step still only downsizes.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

from PIL import Image

from imagine import images

TARGET = (1024, 1024)


def _photo(size: tuple[int, int]) -> bytes:
    img = Image.effect_mandelbrot(size, (-2.0, -1.2, 1.0, 1.2), 64).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _run(data: bytes, draft: bool) -> tuple[float, int]:
    samples: list[float] = []
    decoded_bytes = 0
    for _ in range(7):
        start = time.perf_counter()
        decoded = images.decode(data, max_pixels=40_000_000, draft_size=TARGET if draft else None)
        images.cover(decoded, *TARGET)
        samples.append((time.perf_counter() - start) * 1000)
        decoded_bytes = decoded.width * decoded.height * len(decoded.getbands())
    return min(samples), decoded_bytes  # min: the machine is shared and noisy


def main() -> None:
    """Measure and print."""
    rows: list[dict[str, Any]] = []
    for label, size in [
        ("2 MP", (1920, 1080)),
        ("12 MP", (4032, 3024)),
        ("24 MP", (6000, 4000)),
        ("40 MP", (7744, 5164)),
    ]:
        data = _photo(size)
        full_ms, full_mem = _run(data, draft=False)
        draft_ms, draft_mem = _run(data, draft=True)
        rows.append(
            {
                "input": label,
                "full_ms": round(full_ms, 1),
                "draft_ms": round(draft_ms, 1),
                "speedup": round(full_ms / draft_ms, 2),
                "full_decoded_mb": round(full_mem / 1e6, 1),
                "draft_decoded_mb": round(draft_mem / 1e6, 1),
            }
        )
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "jpeg_draft.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
