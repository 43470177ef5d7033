"""Hosted engines with EditOptions.source: the upload is the input's own bytes, the result
is the provider's own bytes (validated, native size), no pixels in between."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from PIL import Image

from imagine.catalog import default_catalog
from imagine.engines.base import (
    EditOptions,
    EditResult,
    placeholder_image,
    uses_source,
)
from imagine.engines.bfl import BflEngine
from imagine.engines.failover import FailoverEngine
from imagine.engines.fal import FalEngine
from imagine.engines.hosted import HostedEngine
from imagine.engines.hosts import HostPolicy
from imagine.engines.limiter import Limiter
from imagine.engines.offline.engine import OfflineEngine
from imagine.engines.payload import prepare_source
from imagine.engines.replicate import ReplicateEngine
from imagine.engines.upstream import Deadline, UpstreamClient
from imagine.errors import UpstreamFailed
from tests.hostile_images import with_orientation
from tests.support import image_bytes

from .fake_bfl import bfl_app
from .fake_hosted import fal_app, replicate_app
from .fakes import SECRET, Answer, FakeProvider, FakeServer, FakeTime, provider_client

# The bundled catalog's fal ids (the engine module holds none).
FAL_APPS = {
    m.id: app
    for m in default_catalog().values()
    if m.family == "flux.1-kontext" and (app := m.upstream_id("fal"))
}

# The bundled catalog's replicate ids (the engine module holds none).
REPLICATE_MODELS = {
    m.id: app
    for m in default_catalog().values()
    if m.family == "flux.1-kontext" and (app := m.upstream_id("replicate"))
}

ORIGINAL = image_bytes((1600, 1200), quality=90)  # a 4:3 camera-style JPEG
OPTIONS = EditOptions("flux-kontext-max", "16:9", 1360, 768, seed=1, output_format="jpeg")


def _result(fmt: str = "JPEG", size: tuple[int, int] = (1392, 752)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, fmt)
    return buf.getvalue()


def _bfl(fake: FakeProvider, http: httpx.AsyncClient, ftime: FakeTime) -> HostedEngine:
    client = UpstreamClient(
        "bfl", http, HostPolicy(fake.base_url), {"x-key": SECRET}, ftime.clock, ftime.sleep
    )
    return BflEngine(client, fake.base_url, "flux-kontext-max", [Limiter(6)], 120.0)


def _fal(fake: FakeProvider, http: httpx.AsyncClient, ftime: FakeTime) -> HostedEngine:
    client = UpstreamClient(
        "fal",
        http,
        HostPolicy(fake.base_url),
        {"Authorization": f"Key {SECRET}"},
        ftime.clock,
        ftime.sleep,
    )
    return FalEngine(client, fake.base_url, FAL_APPS["flux-kontext-max"], [Limiter(10)], 120.0)


def _replicate(fake: FakeProvider, http: httpx.AsyncClient, ftime: FakeTime) -> HostedEngine:
    client = UpstreamClient(
        "replicate",
        http,
        HostPolicy(fake.base_url),
        {"Authorization": f"Bearer {SECRET}"},
        ftime.clock,
        ftime.sleep,
    )
    return ReplicateEngine(
        client, fake.base_url, REPLICATE_MODELS["flux-kontext-max"], [Limiter(24)], 120.0
    )


def _uploaded(name: str, body: dict[str, Any]) -> bytes:
    if name == "bfl":
        return base64.b64decode(body["input_image"])
    uri = body["image_url"] if name == "fal" else body["body"]["input"]["input_image"]
    header, _, payload = uri.partition(",")
    assert header == "data:image/jpeg;base64"
    return base64.b64decode(payload)


Build = Callable[[FakeProvider, httpx.AsyncClient, FakeTime], HostedEngine]
PROVIDERS: dict[str, tuple[Callable[[FakeServer], Any], Build]] = {
    "bfl": (bfl_app, _bfl),
    "fal": (fal_app, _fal),
    "replicate": (replicate_app, _replicate),
}


@pytest.fixture(scope="module", params=sorted(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeServer]]:
    with FakeServer(PROVIDERS[request.param][0]) as running:
        yield request.param, running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with provider_client() as client:
        yield client


async def test_original_goes_up_and_result_comes_back_byte_identical(provider, http) -> None:
    name, server = provider
    fake = server.reset()
    fake.pending_polls = 0
    result_bytes = _result("JPEG")
    fake.delivery_plan = [Answer(200, result_bytes, {"content-type": "image/jpeg"})]
    source = prepare_source(ORIGINAL, decode_max_pixels=40_000_000)
    assert source.data is ORIGINAL and source.info.format == "jpeg"
    options = replace(OPTIONS, source=source)
    engine = PROVIDERS[name][1](fake, http, FakeTime())
    assert uses_source(engine)
    result = await engine.edit(placeholder_image(), "make it red", options)
    assert _uploaded(name, fake.bodies[0]) == ORIGINAL
    assert result.data == result_bytes and result.format == "jpeg"
    assert result.passes_through("jpeg") and not result.passes_through("png")
    assert result.engine == name
    # Pixels only on demand, at the provider's native size (no resampling).
    assert (await result.pixels()).size == (1392, 752)
    # Accepted by the provider: the held request kept no copy of the input.
    assert "released" in repr(source)
    with pytest.raises(RuntimeError):
        _ = source.data


async def test_result_in_another_format_is_kept_for_the_caller_to_convert(provider, http) -> None:
    name, server = provider
    fake = server.reset()
    fake.pending_polls = 0
    fake.delivery_plan = [Answer(200, _result("PNG"), {"content-type": "image/png"})]
    options = replace(OPTIONS, source=prepare_source(ORIGINAL, decode_max_pixels=40_000_000))
    result = await PROVIDERS[name][1](fake, http, FakeTime()).edit(
        placeholder_image(), "p", options
    )
    assert result.format == "png" and not result.passes_through("jpeg")
    assert result.image.mode == "RGB"


@pytest.mark.parametrize("bad", [b"<html>oops</html>", _result("JPEG")[:3000], _result("GIF")])
async def test_broken_results_fail_the_task(provider, http, bad: bytes) -> None:
    name, server = provider
    fake = server.reset()
    fake.pending_polls = 0
    fake.delivery_plan = [Answer(200, bad)]
    options = replace(OPTIONS, source=prepare_source(ORIGINAL, decode_max_pixels=40_000_000))
    with pytest.raises(UpstreamFailed) as caught:
        await PROVIDERS[name][1](fake, http, FakeTime()).edit(placeholder_image(), "p", options)
    assert caught.value.status == 502


async def test_awkward_input_is_transcoded_once_to_jpeg(provider, http) -> None:
    name, server = provider
    fake = server.reset()
    fake.pending_polls = 0
    source = prepare_source(with_orientation(6), decode_max_pixels=40_000_000)
    assert source.info.format == "jpeg" and (source.info.width, source.info.height) == (32, 64)
    options = replace(OPTIONS, source=source)
    await PROVIDERS[name][1](fake, http, FakeTime()).edit(placeholder_image(), "p", options)
    sent = Image.open(io.BytesIO(_uploaded(name, fake.bodies[0])))
    assert sent.format == "JPEG" and sent.size == (32, 64)  # upright, no EXIF to trust


async def test_the_upload_is_not_held_while_polling(provider, http) -> None:
    name, server = provider
    fake = server.reset()
    fake.pending_polls = 1
    engine = PROVIDERS[name][1](fake, http, FakeTime())
    options = replace(OPTIONS, source=prepare_source(ORIGINAL, decode_max_pixels=40_000_000))
    body = await engine.prepare(placeholder_image(), "p", options)
    await engine.run(body, options, Deadline(engine.upstream.clock, 60))
    assert body == {}


def test_failover_uses_source_only_when_every_engine_does() -> None:
    class Hosted:
        uses_source = True

        async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
            raise NotImplementedError

    clock = FakeTime().clock
    assert uses_source(FailoverEngine([("a", Hosted()), ("b", Hosted())], clock, 10.0))
    assert not uses_source(FailoverEngine([("a", Hosted()), ("o", OfflineEngine())], clock, 10.0))
    assert not uses_source(OfflineEngine())


def test_edit_result_needs_pixels_or_bytes() -> None:
    with pytest.raises(ValueError, match="image or its encoded bytes"):
        EditResult()
    assert "3 png bytes" in repr(EditResult(data=b"abc", format="png"))
