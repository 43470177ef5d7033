"""sniff_acceptable / fast_upload_jpeg / validate_result: bytes through without pixels."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imagine import images
from imagine.errors import ImageRejected, UpstreamFailed
from tests.hostile_images import png_bomb, with_orientation
from tests.support import image_bytes

LIMITS = {"max_pixels": 4_000_000, "max_side": 4096}


def _encoded(mode: str, fmt: str, size: tuple[int, int] = (64, 48), **save: object) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 90).save(buf, fmt, **save)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (image_bytes((640, 480)), "jpeg"),
        (image_bytes((64, 48), "PNG"), "png"),
        (image_bytes((64, 48), "WEBP"), "webp"),
        (_encoded("L", "PNG"), "png"),
        (_encoded("P", "PNG"), "png"),
        (_encoded("RGB", "WEBP", lossless=True), "webp"),
        (with_orientation(1), "jpeg"),
    ],
)
def test_plain_images_pass_as_they_are(data: bytes, fmt: str) -> None:
    info = images.sniff_acceptable(data, **LIMITS)
    assert info is not None and info.format == fmt and info.size == len(data)
    assert info.content_type == f"image/{fmt}"


@pytest.mark.parametrize(
    "data",
    [
        with_orientation(6),  # the provider might not rotate it
        _encoded("RGBA", "PNG"),
        _encoded("LA", "PNG"),
        _encoded("I;16", "PNG"),
        _encoded("RGBA", "WEBP"),
        _encoded("CMYK", "JPEG"),
        image_bytes((64, 48), "GIF"),
        image_bytes((3000, 2000)),  # 6 MP
        image_bytes((4100, 10)),  # a side too long
    ],
)
def test_awkward_images_are_transcoded(data: bytes) -> None:
    assert images.sniff_acceptable(data, **LIMITS) is None
    out = images.fast_upload_jpeg(data, max_pixels=4_000_000, max_side=4096)
    info = images.sniff_acceptable(out, **LIMITS)
    assert info is not None and info.format == "jpeg"


def test_transparent_palette_png_is_transcoded() -> None:
    assert images.sniff_acceptable(_encoded("P", "PNG", transparency=0), **LIMITS) is None


def test_byte_cap_and_formats_are_honoured() -> None:
    data = image_bytes((64, 48), "PNG")
    assert images.sniff_acceptable(data, **LIMITS, max_bytes=len(data) - 1) is None
    assert images.sniff_acceptable(data, **LIMITS, formats=("JPEG",)) is None


def test_fast_upload_applies_orientation_flattens_and_downscales() -> None:
    rotated = Image.open(io.BytesIO(images.fast_upload_jpeg(with_orientation(6))))
    assert rotated.size == (32, 64) and not rotated.getexif()
    flat = Image.open(io.BytesIO(images.fast_upload_jpeg(_encoded("RGBA", "PNG"))))
    assert flat.mode == "RGB"
    big = images.fast_upload_jpeg(image_bytes((4000, 3000)), max_pixels=1_000_000, max_side=2048)
    width, height = Image.open(io.BytesIO(big)).size
    assert width * height <= 1_000_000 and abs(width / height - 4 / 3) < 0.01


def test_garbage_and_bombs_are_rejected_not_passed() -> None:
    with pytest.raises(ImageRejected):
        images.sniff_acceptable(b"%PDF-1.4 not an image", **LIMITS)
    truncated = image_bytes((640, 480))[:2000]
    with pytest.raises(ImageRejected, match="truncated or corrupt JPEG"):
        images.sniff_acceptable(truncated, **LIMITS)
    assert images.sniff_acceptable(png_bomb(), **LIMITS) is None  # too big to pass
    with pytest.raises(ImageRejected, match="too large"):
        images.fast_upload_jpeg(png_bomb(), decode_max_pixels=40_000_000)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_validate_result_reads_the_header(fmt: str) -> None:
    data = image_bytes((1392, 752), fmt)
    info = images.validate_result(data, max_pixels=2_000_000)
    assert (info.format, info.width, info.height) == (fmt.lower(), 1392, 752)
    assert images.validate_result(data, max_pixels=2_000_000, expected_format=fmt.lower())


def test_validate_result_refuses_what_a_client_must_not_get() -> None:
    png = image_bytes((1392, 752), "PNG")
    jpeg = image_bytes((1392, 752))
    cases = [
        (b"<html>error</html>", "unreadable"),
        (png[: len(png) // 2], "unreadable"),
        (jpeg[: len(jpeg) - 200], "unreadable"),
        (image_bytes((64, 48), "GIF"), "unreadable"),
        (png_bomb(), "oversized"),
    ]
    for data, message in cases:
        with pytest.raises(UpstreamFailed, match=message) as caught:
            images.validate_result(data, max_pixels=2_000_000)
        assert caught.value.status == 502
    with pytest.raises(UpstreamFailed, match="PNG, not JPEG"):
        images.validate_result(png, max_pixels=2_000_000, expected_format="jpeg")
