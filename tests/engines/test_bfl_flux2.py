"""FLUX.2 through the bfl engine against the loopback fake: references as input_image_N in
order, text-to-image without any input, pixel sizes, the provider's cost, moderation."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from PIL import Image

from imagine import images
from imagine.engines.base import EditOptions, SourceImage, placeholder_image
from imagine.engines.bfl import BflEngine
from imagine.engines.hosts import HostPolicy
from imagine.engines.limiter import Limiter
from imagine.engines.upstream import UpstreamClient
from imagine.errors import ContentPolicyViolation, UpstreamFailed

from .fake_bfl import FLUX2_COST, bfl_app
from .fakes import SECRET, FakeProvider, FakeServer, FakeTime, provider_client


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(bfl_app, cap=6) as running:
        yield running


@pytest.fixture
def fake(server: FakeServer) -> FakeProvider:
    return server.reset()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with provider_client() as client:
        yield client


@pytest.fixture
def ftime() -> FakeTime:
    return FakeTime()


def flux2(fake: FakeProvider, http: httpx.AsyncClient, ftime: FakeTime, endpoint: str) -> BflEngine:
    client = UpstreamClient(
        "bfl", http, HostPolicy(fake.base_url), {"x-key": SECRET}, ftime.clock, ftime.sleep
    )
    return BflEngine(client, fake.base_url, endpoint, [Limiter(6)], 120.0, sizing="width_height")


def source(colour: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> SourceImage:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    data = buffer.getvalue()
    info = images.sniff_acceptable(data, max_pixels=10**7, max_side=8192, formats=("PNG",))
    assert info is not None
    return SourceImage(data, info)


def colour_of(b64: str) -> tuple[int, int, int]:
    with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
        pixel = img.convert("RGB").getpixel((1, 1))
    assert isinstance(pixel, tuple)
    return (pixel[0], pixel[1], pixel[2])


COLOURS = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0), (0, 250, 250)]


async def test_every_reference_arrives_as_input_image_n_in_order(fake, http, ftime) -> None:
    first, *rest = [source(c) for c in COLOURS]
    options = EditOptions(
        "flux-2-pro", "16:9", 1360, 768, seed=3, source=first, references=tuple(rest)
    )
    result = await flux2(fake, http, ftime, "flux-2-pro").edit(
        placeholder_image(), "combine them", options
    )
    assert result.engine == "bfl" and result.data is not None
    assert fake.requests[0] == ("POST", "/v1/flux-2-pro")
    body = fake.bodies[0]
    names = ["input_image", "input_image_2", "input_image_3", "input_image_4", "input_image_5"]
    assert [k for k in body if k.startswith("input_image")] == names
    assert [colour_of(body[n]) for n in names] == COLOURS
    assert (body["width"], body["height"]) == (1360, 768) and "aspect_ratio" not in body
    assert body["seed"] == 3 and body["safety_tolerance"] == 2
    # The provider's cost is kept for the task (internal), and the uploads were dropped.
    assert result.upstream_cost == FLUX2_COST
    with pytest.raises(RuntimeError):
        _ = rest[-1].data


async def test_text_to_image_sends_no_input_image(fake, http, ftime) -> None:
    options = EditOptions("flux-2-klein-4b", "3:4", 880, 1168, has_input=False)
    result = await flux2(fake, http, ftime, "flux-2-klein-4b").edit(
        placeholder_image(), "a lighthouse at dusk", options
    )
    body = fake.bodies[0]
    assert not any(k.startswith("input_image") for k in body)
    assert (body["width"], body["height"]) == (880, 1168)
    assert result.image.size == (880, 1168)  # no source: decoded and fitted


async def test_more_references_than_the_endpoint_takes_is_rejected(fake, http, ftime) -> None:
    # klein 4B takes 4 images: the provider answers 422, mapped as every rejection.
    first, *rest = [source(c) for c in COLOURS]
    options = EditOptions(
        "flux-2-klein-4b", "1:1", 1024, 1024, source=first, references=tuple(rest)
    )
    with pytest.raises(UpstreamFailed):
        await flux2(fake, http, ftime, "flux-2-klein-4b").edit(placeholder_image(), "p", options)


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        ("request_moderated", ContentPolicyViolation),
        ("content_moderated", ContentPolicyViolation),
        ("error", UpstreamFailed),
    ],
)
async def test_moderation_and_errors_map_as_for_kontext(fake, http, ftime, outcome, error) -> None:
    fake.outcome = outcome
    options = EditOptions("flux-2-max", "1:1", 1024, 1024, has_input=False)
    with pytest.raises(error):
        await flux2(fake, http, ftime, "flux-2-max").edit(placeholder_image(), "p", options)
