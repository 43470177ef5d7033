"""The fal engine against a loopback fake of fal's queue API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from imagine.catalog import default_catalog
from imagine.engines.base import EditOptions
from imagine.engines.fal import FalEngine
from imagine.engines.hosts import HostPolicy
from imagine.engines.limiter import Limiter
from imagine.engines.upstream import SubmitTimeout, UpstreamClient, UpstreamOutage
from imagine.errors import (
    ContentPolicyViolation,
    UpstreamFailed,
    UpstreamTimeout,
    UpstreamUnavailable,
)

from .fake_hosted import fal_app
from .fakes import (
    SECRET,
    Answer,
    FakeProvider,
    FakeServer,
    FakeTime,
    counting_app,
    input_image,
    provider_client,
)

# The bundled catalog's fal ids (the engine module holds none).
FAL_APPS = {
    m.id: app
    for m in default_catalog().values()
    if m.family == "flux.1-kontext" and (app := m.upstream_id("fal"))
}

OPTIONS = EditOptions("flux-kontext-max", "3:2", 1248, 832, seed=3, output_format="jpeg")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(fal_app) as running:
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


def engine(
    fake: FakeProvider,
    http: httpx.AsyncClient,
    ftime: FakeTime,
    app: str = FAL_APPS["flux-kontext-max"],
) -> FalEngine:
    client = UpstreamClient(
        "fal",
        http,
        HostPolicy(fake.base_url),
        {"Authorization": f"Key {SECRET}"},
        ftime.clock,
        ftime.sleep,
    )
    return FalEngine(client, fake.base_url, app, [Limiter(10)], 120.0)


@pytest.mark.parametrize("model", sorted(FAL_APPS))
async def test_completed_request_is_downloaded(fake, http, ftime, model) -> None:
    result = await engine(fake, http, ftime, FAL_APPS[model]).edit(input_image(), "p", OPTIONS)
    assert result.engine == "fal" and result.image.size == (1248, 832)
    body = fake.bodies[0]
    assert body["image_url"].startswith("data:image/png;base64,")
    assert body["aspect_ratio"] == "3:2" and body["output_format"] == "jpeg"
    assert body["safety_tolerance"] == "2" and body["seed"] == 3 and body["num_images"] == 1
    paths = [p for _, p in fake.requests]
    assert paths[0] == "/" + FAL_APPS[model]
    assert paths[1].startswith("/fal-ai/flux-pro/requests/") and paths[1].endswith("/status")
    assert fake.auth[0] == f"Key {SECRET}" and fake.auth[-1] == ""


@pytest.mark.parametrize("outcome", ["policy", "nsfw"])
async def test_content_refusals(fake, http, ftime, outcome) -> None:
    fake.outcome = outcome
    with pytest.raises(ContentPolicyViolation):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)


@pytest.mark.parametrize("outcome", ["error", "malformed"])
async def test_failures(fake, http, ftime, outcome) -> None:
    fake.outcome = outcome
    with pytest.raises(UpstreamFailed) as caught:
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert not isinstance(caught.value, UpstreamOutage)  # accepted upstream: final


async def test_unknown_status_is_malformed(fake, http, ftime) -> None:
    fake.poll_plan = [Answer(200, {"status": "EXPLODED"})]
    with pytest.raises(UpstreamFailed):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)


@pytest.mark.parametrize("status", [402, 403])
async def test_billing_and_locked_accounts_are_unavailable(fake, http, ftime, status) -> None:
    fake.submit_plan = [Answer(status, {"detail": "User is locked. Reason: Exhausted balance"})]
    with pytest.raises(UpstreamUnavailable):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)


async def test_429_then_success(fake, http, ftime) -> None:
    fake.submit_plan = [Answer(429, {"detail": "rate"}, {"Retry-After": "3"})]
    await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert ftime.sleeps[0] == 3.0


async def test_5xx_outage_and_deadline(fake, http, ftime) -> None:
    fake.submit_plan = [Answer(500, "x")] * 3
    with pytest.raises(UpstreamOutage):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    fake.submit_plan = [Answer(429, None, {"Retry-After": "60"})] * 3
    with pytest.raises(SubmitTimeout):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    fake.pending_polls = 10_000
    with pytest.raises(UpstreamTimeout) as caught:
        await engine(fake, http, FakeTime()).edit(input_image(), "p", OPTIONS)
    assert not isinstance(caught.value, SubmitTimeout)
    assert fake.requests[-1][0] == "PUT" and fake.requests[-1][1].endswith("/cancel")
    assert [t.cancelled for t in fake.tasks.values()] == [True] and fake.in_flight == 0


async def test_foreign_status_url_is_refused(fake, http, ftime) -> None:
    with FakeServer(counting_app) as foreign:
        fake.polling_url = f"{foreign.base_url}/fal-ai/flux-pro/requests/x/status"
        with pytest.raises(UpstreamFailed):
            await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
        assert foreign.state.requests == []
