"""The fast encoders and resizer: lossless, valid, metadata-free, visually equivalent."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imagine import images
from imagine.images import encoding as encode_module


def _noise(mode: str, size: tuple[int, int] = (97, 61)) -> Image.Image:
    rng = np.random.default_rng(3)
    bands = len(mode)
    arr = rng.integers(0, 256, (size[1], size[0], bands), dtype=np.uint8)
    return Image.fromarray(arr[..., 0] if bands == 1 else arr)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
@pytest.mark.parametrize("fpng", [True, False])
def test_png_is_lossless_and_valid(mode: str, fpng: bool, monkeypatch) -> None:
    if not fpng:
        monkeypatch.setattr(encode_module, "_fpng_module", None)
    src = _noise(mode)
    out = Image.open(io.BytesIO(images.encode(src, "png")))
    out.load()
    assert out.format == "PNG" and out.mode == mode
    assert np.array_equal(np.asarray(out), np.asarray(src))


def test_png_of_other_modes_keeps_alpha_or_drops_to_rgb() -> None:
    assert Image.open(io.BytesIO(images.encode(Image.new("LA", (8, 8)), "png"))).mode == "RGBA"
    assert Image.open(io.BytesIO(images.encode(Image.new("P", (8, 8)), "png"))).mode == "RGB"


def test_jpeg_drops_comment_and_handles_rgba() -> None:
    src = _noise("RGBA")
    src.info["comment"] = b"secret"
    out = Image.open(io.BytesIO(images.encode(src, "jpeg")))
    assert out.format == "JPEG" and out.mode == "RGB" and "comment" not in out.info


def _psnr(a: Image.Image, b: Image.Image) -> float:
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(10 * np.log10(255**2 / max(np.mean(diff**2), 1e-9)))


@pytest.mark.parametrize(
    ("src", "dst"),
    [((1600, 1200), (1024, 1024)), ((1600, 1200), (1360, 768)), ((640, 480), (880, 1168))],
)
def test_cover_crops_centre_and_matches_lanczos(src: tuple[int, int], dst: tuple[int, int]) -> None:
    smooth = Image.radial_gradient("L").resize(src).convert("RGB")
    out = images.cover(smooth, *dst)
    assert out.size == dst and out.mode == "RGB"
    box = images.resizing.cover_box(*src, *dst)
    reference = smooth.resize(dst, Image.Resampling.LANCZOS, box=box)
    assert _psnr(out, reference) > 40


def test_cover_keeps_mode_and_exact_sizes() -> None:
    rgba = _noise("RGBA", (300, 200))
    assert images.cover(rgba, 100, 100).mode == "RGBA"
    same = images.cover(rgba, 300, 200)
    assert same is rgba
    cropped = images.cover(rgba, 200, 200)  # a pure crop, no resampling
    assert np.array_equal(np.asarray(cropped), np.asarray(rgba)[:, 50:250])
    assert images.cover(Image.new("I;16", (40, 20)), 10, 10).size == (10, 10)
