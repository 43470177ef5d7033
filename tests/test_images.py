"""images.decode / cover / encode against the hostile corpus, plus the header sniffer."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from imagine import images
from imagine.errors import ImageRejected
from imagine.image_header import sniff
from tests.hostile_images import corpus, jpeg_with_size, png_bomb, with_orientation
from tests.support import image_bytes

CORPUS = corpus()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_corpus(name: str) -> None:
    data, expected = CORPUS[name]
    started = time.monotonic()
    if expected == "ok":
        img = images.decode(data, max_pixels=40_000_000, draft_size=(1024, 1024))
        assert img.mode == "RGB"
        out = images.encode(images.cover(img, 64, 64), "png")
        assert Image.open(io.BytesIO(out)).size == (64, 64)
    else:
        with pytest.raises(ImageRejected) as info:
            images.decode(data, max_pixels=40_000_000)
        assert info.value.status == 400
        message = info.value.messages[0]
        assert message.startswith("image_url "), message
        assert expected in message, message
    assert time.monotonic() - started < 3


def test_sniff_reads_sizes_from_headers() -> None:
    assert sniff(png_bomb()).pixels == 900_000_000
    assert (sniff(jpeg_with_size(123, 456)).width, sniff(jpeg_with_size(123, 456)).height) == (
        123,
        456,
    )
    for fmt in ("JPEG", "PNG", "WEBP", "GIF"):
        header = sniff(image_bytes((77, 33), fmt))
        assert (header.format, header.width, header.height) == (fmt, 77, 33)
    lossless = io.BytesIO()
    Image.new("RGBA", (77, 33)).save(lossless, "WEBP", lossless=True)
    assert (sniff(lossless.getvalue()).width, sniff(lossless.getvalue()).height) == (77, 33)


def test_pixel_cap_is_configurable() -> None:
    data = image_bytes((200, 100), "PNG")
    assert images.decode(data, max_pixels=20_000).size == (200, 100)
    with pytest.raises(ImageRejected, match="too large: 200x100"):
        images.decode(data, max_pixels=19_999)


def test_exif_orientation_is_applied_and_stripped() -> None:
    img = images.decode(with_orientation(6), max_pixels=10_000)
    assert img.size == (32, 64)
    out = Image.open(io.BytesIO(images.encode(img, "jpeg")))
    assert not out.getexif()
    assert "icc_profile" not in out.info and "exif" not in out.info


def test_draft_decodes_big_jpegs_at_reduced_scale_but_never_below_target() -> None:
    data = image_bytes((4096, 3072), quality=80)
    full = images.decode(data, max_pixels=40_000_000)
    small = images.decode(data, max_pixels=40_000_000, draft_size=(1360, 768))
    assert full.size == (4096, 3072)
    assert small.size == (2048, 1536)
    assert images.cover(small, 1360, 768).size == (1360, 768)
    png = image_bytes((4096, 3072), "PNG")
    assert images.decode(png, max_pixels=40_000_000, draft_size=(1024, 1024)).size == (4096, 3072)


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_encode_strips_metadata(fmt: str) -> None:
    src = Image.new("RGB", (32, 32))
    src.info["icc_profile"] = b"x" * 100
    src.info["exif"] = b"Exif\x00\x00junk"
    out = Image.open(io.BytesIO(images.encode(src, fmt)))  # type: ignore[arg-type]
    assert "icc_profile" not in out.info
    assert "exif" not in out.info
    assert not getattr(out, "text", {})
