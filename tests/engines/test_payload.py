"""Encoding inputs and decoding upstream results safely."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from imagine.engines.payload import decode_data_uri, decode_result, encode_data_uri, fit
from imagine.errors import UpstreamFailed


def _bytes(fmt: str, size: tuple[int, int] = (32, 16), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 0).save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
async def test_allowed_formats_decode_to_rgb(fmt: str) -> None:
    image = await decode_result(_bytes(fmt, mode="RGBA" if fmt != "JPEG" else "RGB"))
    assert image.mode == "RGB" and image.size == (32, 16)


@pytest.mark.parametrize("data", [_bytes("GIF"), _bytes("BMP"), b"not an image", b""])
async def test_other_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(UpstreamFailed):
        await decode_result(data)


async def test_pixel_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(UpstreamFailed):
        await decode_result(_bytes("PNG", (200, 200)), max_pixels=100 * 100)


async def test_data_uri_round_trip() -> None:
    uri = await encode_data_uri(Image.new("RGB", (8, 8)))
    assert uri.startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(decode_data_uri(uri))).size == (8, 8)
    with pytest.raises(UpstreamFailed):
        decode_data_uri("data:text/html;base64," + base64.b64encode(b"x").decode())
    with pytest.raises(UpstreamFailed):
        decode_data_uri("data:image/png;base64,AAAA", max_bytes=1)


def test_fit_crops_to_cover() -> None:
    assert fit(Image.new("RGB", (1392, 752)), 1360, 768).size == (1360, 768)
