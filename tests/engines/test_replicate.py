"""The replicate engine against a loopback fake of Replicate's predictions API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from imagine.catalog import default_catalog
from imagine.engines.base import EditOptions
from imagine.engines.hosts import HostPolicy
from imagine.engines.limiter import Limiter
from imagine.engines.replicate import ReplicateEngine
from imagine.engines.upstream import SubmitTimeout, UpstreamClient, UpstreamOutage
from imagine.errors import (
    ContentPolicyViolation,
    UpstreamFailed,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from imagine.fetch.client import build_outbound_clients
from imagine.settings import Settings

from .fake_hosted import replicate_app
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

# The bundled catalog's replicate ids (the engine module holds none).
REPLICATE_MODELS = {
    m.id: app
    for m in default_catalog().values()
    if m.family == "flux.1-kontext" and (app := m.upstream_id("replicate"))
}

OPTIONS = EditOptions("flux-kontext-pro", "9:16", 768, 1360, output_format="jpeg")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(replicate_app) as running:
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


def engine(fake: FakeProvider, http: httpx.AsyncClient, ftime: FakeTime) -> ReplicateEngine:
    client = UpstreamClient(
        "replicate",
        http,
        HostPolicy(fake.base_url),
        {"Authorization": f"Bearer {SECRET}"},
        ftime.clock,
        ftime.sleep,
    )
    return ReplicateEngine(
        client,
        fake.base_url,
        REPLICATE_MODELS["flux-kontext-pro"],
        [Limiter(24)],
        120.0,
        safety_tolerance=5,
    )


async def test_sync_wait_returns_the_output_without_polling(fake, http, ftime) -> None:
    fake.pending_polls = 0
    result = await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert result.engine == "replicate" and result.image.size == (768, 1360)
    sent = fake.bodies[0]
    assert sent["prefer"] == "wait=60"
    data = sent["body"]["input"]
    assert data["input_image"].startswith("data:image/png;base64,")
    assert data["output_format"] == "jpg" and data["aspect_ratio"] == "9:16"
    assert data["safety_tolerance"] == 2 and "seed" not in data
    assert fake.requests[0][1] == ("/v1/models/black-forest-labs/flux-kontext-pro/predictions")
    assert len(fake.requests) == 2  # create + download, no polling


async def test_polls_urls_get_beyond_the_wait(fake, http, ftime) -> None:
    result = await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert result.image.size == (768, 1360)
    assert sum(1 for m, p in fake.requests if p.startswith("/v1/predictions/")) == 3


async def test_flagged_prediction_is_a_content_policy_violation(fake, http, ftime) -> None:
    fake.outcome = "flagged"
    with pytest.raises(ContentPolicyViolation):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)


@pytest.mark.parametrize("outcome", ["error", "canceled", "malformed"])
async def test_failed_canceled_malformed(fake, http, ftime, outcome) -> None:
    fake.outcome = outcome
    with pytest.raises(UpstreamFailed):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)


async def test_provider_errors(fake, http, ftime) -> None:
    fake.submit_plan = [Answer(402, {"detail": "You have insufficient credit", "status": 402})]
    with pytest.raises(UpstreamUnavailable):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    fake.submit_plan = [Answer(429, {"detail": "throttled"}, {"Retry-After": "2"})]
    await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert 2.0 in ftime.sleeps
    fake.submit_plan = [Answer(503, "x")] * 3
    with pytest.raises(UpstreamOutage):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    fake.submit_plan = [Answer(422, {"detail": "bad input"})]
    with pytest.raises(UpstreamFailed) as caught:
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert caught.value.messages == ["Upstream rejected the request"]


async def test_deadline_after_acceptance_is_final(fake, http, ftime) -> None:
    fake.pending_polls = 10_000
    with pytest.raises(UpstreamTimeout) as caught:
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert not isinstance(caught.value, SubmitTimeout)
    assert fake.requests[-1][0] == "POST" and fake.requests[-1][1].endswith("/cancel")
    assert [t.cancelled for t in fake.tasks.values()] == [True] and fake.in_flight == 0


async def test_expired_output_fails(fake, http, ftime) -> None:
    fake.result_ttl = -1.0
    with pytest.raises(UpstreamFailed):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)


async def test_foreign_get_url_is_refused(fake, http, ftime) -> None:
    with FakeServer(counting_app) as foreign:
        fake.polling_url = f"{foreign.base_url}/v1/predictions/x"
        with pytest.raises(UpstreamFailed):
            await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
        assert foreign.state.requests == []


async def test_a_sync_wait_longer_than_the_fetch_deadline_is_submitted_once(fake, ftime) -> None:
    # The triple submission: Replicate holds `Prefer: wait` answers for up to 60 s,
    # longer than the image-fetch deadline. Through the provider client (production wiring)
    # the held answer arrives and the prediction reaches the provider exactly once.
    fake.pending_polls = 0
    fake.submit_hold = 1.5
    async with provider_client(fetch_deadline=1.0) as provider:
        result = await engine(fake, provider, ftime).edit(input_image(), "p", OPTIONS)
    assert result.engine == "replicate"
    assert len(fake.bodies) == 1 and fake.submits == 1


async def test_a_deadline_after_the_body_was_sent_is_never_retried(fake, ftime) -> None:
    # The old code path: a client whose deadline (1 s here, 30 s in production) is shorter
    # than the held answer. Its deadline used to read as a connect timeout and the submission
    # was sent three times; now it is its own error and the submission stays unconfirmed.
    fake.pending_polls = 0
    fake.submit_hold = 1.5
    clients = build_outbound_clients(Settings(fetch_allow=["127.0.0.1/32"], fetch_deadline=1.0))
    try:
        with pytest.raises(UpstreamFailed, match="did not confirm") as caught:
            await engine(fake, clients.fetch, ftime).edit(input_image(), "p", OPTIONS)
    finally:
        await clients.aclose()
    assert not isinstance(caught.value, UpstreamOutage)  # no failover to another provider
    assert len(fake.bodies) == 1 and fake.submits == 1


async def test_results_up_to_the_result_cap_download_through_the_provider_client(
    fake, ftime
) -> None:
    # Larger than the image-fetch cap (lowered to 1 KiB here), within the result cap.
    fake.pending_polls = 0
    fake.result_size = (1400, 1400)  # about 9 KB as PNG
    async with provider_client(fetch_max_bytes=1024) as provider:
        result = await engine(fake, provider, ftime).edit(input_image(), "p", OPTIONS)
    assert result.engine == "replicate"
