"""The bfl engine against a loopback fake of the Black Forest Labs API."""

from __future__ import annotations

import asyncio
import base64
import gc
import io
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from PIL import Image

from imagine.engines.base import EditOptions
from imagine.engines.bfl import BflEngine
from imagine.engines.hosts import HostPolicy
from imagine.engines.limiter import Limiter
from imagine.engines.upstream import Deadline, SubmitTimeout, UpstreamClient, UpstreamOutage
from imagine.errors import (
    ContentPolicyViolation,
    RateLimited,
    UpstreamFailed,
    UpstreamTimeout,
    UpstreamUnavailable,
)

from .fake_bfl import bfl_app
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

OPTIONS = EditOptions("flux-kontext-max", "1:1", 1024, 1024, seed=7)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(bfl_app, cap=6) as running:
        yield running


@pytest.fixture(scope="module")
def foreign() -> Iterator[FakeServer]:
    with FakeServer(counting_app) as running:
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
    limiters: list[Limiter] | None = None,
    queue_timeout: float = 30.0,
    deadline: float = 120.0,
) -> BflEngine:
    client = UpstreamClient(
        "bfl", http, HostPolicy(fake.base_url), {"x-key": SECRET}, ftime.clock, ftime.sleep
    )
    return BflEngine(
        client,
        fake.base_url,
        "flux-kontext-max",
        limiters or [Limiter(6)],
        deadline,
        safety_tolerance=6,
        queue_timeout=queue_timeout,
    )


async def test_ready_task_is_downloaded_and_decoded(fake, http, ftime) -> None:
    result = await engine(fake, http, ftime).edit(input_image(), "make it red", OPTIONS)
    assert result.engine == "bfl"
    assert result.image.mode == "RGB" and result.image.size == (1024, 1024)
    assert result.image.getpixel((5, 5)) == (200, 30, 30)
    body = fake.bodies[0]
    assert body["prompt"] == "make it red" and body["aspect_ratio"] == "1:1"
    assert body["seed"] == 7 and body["output_format"] == "png"
    assert body["safety_tolerance"] == 2 and body["prompt_upsampling"] is False
    decoded = Image.open(io.BytesIO(base64.b64decode(body["input_image"])))
    assert decoded.format == "PNG" and decoded.size == (1024, 1024)
    assert all(key == SECRET for key in fake.auth[:-1])  # submit + polls carry x-key
    assert fake.auth[-1] == ""  # the result download carries no key
    assert [m for m, _ in fake.requests] == ["POST", "GET", "GET", "GET", "GET"]
    assert ftime.sleeps and max(ftime.sleeps) <= 4.0


async def test_provider_size_is_fitted_to_the_requested_size(fake, http, ftime) -> None:
    fake.result_size = (1392, 752)
    options = EditOptions("flux-kontext-max", "16:9", 1360, 768, output_format="jpeg")
    result = await engine(fake, http, ftime).edit(input_image(), "p", options)
    assert result.image.size == (1360, 768)
    assert fake.bodies[0]["output_format"] == "jpeg" and "seed" not in fake.bodies[0]


@pytest.mark.parametrize("outcome", ["request_moderated", "content_moderated"])
async def test_moderation_is_a_content_policy_violation(fake, http, ftime, outcome) -> None:
    fake.outcome = outcome
    with pytest.raises(ContentPolicyViolation) as caught:
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert caught.value.status == 422


@pytest.mark.parametrize("outcome", ["error", "malformed"])
async def test_error_and_malformed_answers_fail(fake, http, ftime, outcome) -> None:
    fake.outcome = outcome
    with pytest.raises(UpstreamFailed) as caught:
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert caught.value.status == 502


async def test_polls_follow_how_long_recent_tasks_took(fake, http, ftime) -> None:
    """After three tasks, the next waits until about when they finished before polling, then
    polls briskly; moderated tasks end early and are not counted."""
    bfl = engine(fake, http, ftime)
    fake.outcome = "request_moderated"
    for _ in range(3):
        with pytest.raises(ContentPolicyViolation):
            await bfl.edit(input_image(), "p", OPTIONS)
    fake.outcome = "ready"
    fake.pending_polls = 2
    for _ in range(3):
        ftime.sleeps.clear()
        await bfl.edit(input_image(), "p", OPTIONS)
        assert ftime.sleeps == [0.5, 0.75]  # no history yet: at once, then backing off
    ftime.sleeps.clear()
    fake.requests.clear()
    await bfl.edit(input_image(), "p", OPTIONS)
    assert ftime.sleeps == [pytest.approx(0.9 * 1.25), 0.5, 0.5]
    assert [m for m, _ in fake.requests] == ["POST", "GET", "GET", "GET", "GET"]


async def test_id_without_polling_url_polls_get_result(fake, http, ftime) -> None:
    fake.polling_url = ""
    await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert fake.requests[1] == ("GET", "/v1/get_result")


async def test_task_not_found_fails(fake, http, ftime) -> None:
    fake.polling_url = f"{fake.base_url}/v1/get_result?id=unknown"
    with pytest.raises(UpstreamFailed):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)


async def test_non_json_poll_answer_fails(fake, http, ftime) -> None:
    fake.poll_plan = [Answer(200, "<html>gateway</html>")]
    with pytest.raises(UpstreamFailed):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)


async def test_out_of_credits_is_unavailable(fake, http, ftime) -> None:
    fake.submit_plan = [Answer(402, {"detail": "Insufficient credits"})]
    with pytest.raises(UpstreamUnavailable) as caught:
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert caught.value.status == 503


async def test_429_waits_for_retry_after_then_succeeds(fake, http, ftime) -> None:
    fake.submit_plan = [Answer(429, {"detail": "busy"}, {"Retry-After": "7"})]
    result = await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert result.image.size == (1024, 1024)
    assert ftime.sleeps[0] == 7.0
    assert fake.submits == 1


async def test_429_storm_times_out_before_acceptance(fake, http, ftime) -> None:
    fake.submit_plan = [Answer(429, None, {"Retry-After": "50"})] * 5
    with pytest.raises(SubmitTimeout) as caught:
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert caught.value.status == 504 and fake.submits == 0


async def test_5xx_on_submit_is_retried_a_bounded_number_of_times(fake, http, ftime) -> None:
    fake.submit_plan = [Answer(503, "down"), Answer(500, "down")]
    await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    fake2 = fake
    fake2.submit_plan = [Answer(502, "down")] * 4
    with pytest.raises(UpstreamOutage):
        await engine(fake2, http, ftime).edit(input_image(), "p", OPTIONS)
    assert len(fake2.submit_plan) == 1  # three attempts, then gave up


async def test_5xx_while_polling_is_retried(fake, http, ftime) -> None:
    fake.poll_plan = [Answer(500, "oops"), Answer(504, "oops")]
    result = await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert result.engine == "bfl"


async def test_slow_task_hits_the_deadline(fake, http, ftime) -> None:
    fake.pending_polls = 10_000
    with pytest.raises(UpstreamTimeout) as caught:
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert not isinstance(caught.value, SubmitTimeout)  # accepted: final, never failed over
    assert caught.value.status == 504
    assert 119.0 <= sum(ftime.sleeps) <= 121.0


async def test_a_polling_edit_keeps_no_copy_of_its_upload(fake, http, ftime) -> None:
    """While it waits on the provider, an edit holds no encoded upload: a held edit costs
    kilobytes, not its input's size (no live request object still carries the body)."""
    fake.pending_polls = 3
    carried: list[int] = []

    def largest_live_body() -> int:
        """The largest copy of the upload (encoded JSON or its base64) anything still holds."""
        gc.collect()
        sizes = [0]
        for holder in gc.get_objects():
            for value in gc.get_referents(holder):
                # type(...) is, not isinstance: that reads `__class__`, which some objects
                # (torch's deprecated ones) answer with a warning.
                upload_json = type(value) is bytes and b'"input_image"' in value[:4096]
                upload_b64 = type(value) is str and value.startswith(("iVBORw0KGgo", "/9j/"))
                if upload_json or upload_b64:
                    sizes.append(len(value))
        return max(sizes)

    async def sleep(seconds: float) -> None:
        carried.append(largest_live_body())
        await ftime.sleep(seconds)

    client = UpstreamClient(
        "bfl", http, HostPolicy(fake.base_url), {"x-key": SECRET}, ftime.clock, sleep
    )
    bfl = BflEngine(client, fake.base_url, "flux-kontext-max", [Limiter(6)], 120.0)
    result = await bfl.edit(input_image(), "make it red", OPTIONS)
    assert result.engine == "bfl"
    assert len(fake.bodies[0]["input_image"]) > 20_000  # the upload was that large
    assert len(carried) == 3 and max(carried) < 2_000, carried


async def test_result_download_5xx_is_retried(fake, http, ftime) -> None:
    fake.delivery_plan = [Answer(503, "busy"), Answer(500, "busy")]
    result = await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert result.image.size == (1024, 1024)
    fake.delivery_plan = [Answer(503, "busy")] * 3
    with pytest.raises(UpstreamFailed) as caught:
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert caught.value.messages == ["Upstream result could not be downloaded"]


async def test_expired_result_url_fails(fake, http, ftime) -> None:
    fake.result_ttl = -1.0
    with pytest.raises(UpstreamFailed):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)


async def test_connection_refused_is_an_outage(http, ftime) -> None:
    with FakeServer(bfl_app) as gone:
        base = gone.base_url
    client = UpstreamClient(
        "bfl", http, HostPolicy(base), {"x-key": SECRET}, ftime.clock, ftime.sleep
    )
    bfl = BflEngine(client, base, "flux-kontext-max", [Limiter(6)], 120.0)
    with pytest.raises(UpstreamOutage):
        await bfl.edit(input_image(), "p", OPTIONS)


@pytest.mark.parametrize("where", ["polling", "result"])
async def test_foreign_urls_are_refused_and_never_fetched(
    fake, http, ftime, foreign, where
) -> None:
    foreign.reset()
    target = f"{foreign.base_url}/v1/get_result?id=x"
    if where == "polling":
        fake.polling_url = target
    else:
        fake.result_url = f"{foreign.base_url}/delivery/x.png"
    with pytest.raises(UpstreamFailed) as caught:
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert caught.value.messages == ["Upstream returned an unexpected URL"]
    assert foreign.state.requests == []


async def test_cap_is_never_exceeded(fake, http, ftime) -> None:
    # FakeTime's clock moves by every task's sleeps: 14 tasks that each wait the usual
    # duration before polling (the poll schedule) add up to far more than 120 s.
    bfl = engine(fake, http, ftime, limiters=[Limiter(6)], deadline=3600.0)
    fake.pending_polls = 3
    results = await asyncio.gather(*(bfl.edit(input_image(), "p", OPTIONS) for _ in range(14)))
    assert len(results) == 14 and fake.submits == 14
    assert fake.over_cap == 0 and 3 <= fake.peak <= 6


async def test_fake_counts_overload_without_the_limiter(fake, http, ftime) -> None:
    bfl = engine(fake, http, ftime, limiters=[Limiter(24)], deadline=3600.0)  # as above
    fake.pending_polls = 3
    await asyncio.gather(*(bfl.edit(input_image(), "p", OPTIONS) for _ in range(14)))
    assert fake.over_cap > 0  # the fake really enforces the cap; 429s were waited out


async def test_full_queue_is_rate_limited_without_submitting(fake, http, ftime) -> None:
    limiter = Limiter(1)
    await limiter.acquire(1.0)
    with pytest.raises(RateLimited):
        await engine(fake, http, ftime, [limiter], queue_timeout=0.05).edit(
            input_image(), "p", OPTIONS
        )
    assert fake.submits == 0


async def test_redirect_hops_are_host_checked(fake, http, ftime, foreign) -> None:
    foreign.reset()
    fake.result_url = f"{fake.base_url}/redirect?to={foreign.base_url}/delivery/x.png"
    with pytest.raises(UpstreamFailed):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
    assert foreign.state.requests == []
    fake.result_url = None
    bfl = engine(fake, http, ftime)
    task = await bfl.run(
        await bfl.prepare(input_image(), "p", OPTIONS), OPTIONS, Deadline(ftime.clock, 60)
    )
    local = f"{fake.base_url}/redirect?to={task}"
    assert (await bfl.upstream.download(local, Deadline(ftime.clock, 60)))[:4] == b"\x89PNG"


async def test_result_size_is_capped(fake, http, ftime) -> None:
    bfl = engine(fake, http, ftime)
    sample = await bfl.run(
        await bfl.prepare(input_image(), "p", OPTIONS), OPTIONS, Deadline(ftime.clock, 60)
    )
    with pytest.raises(UpstreamFailed) as caught:
        await bfl.upstream.download(sample, Deadline(ftime.clock, 60), max_bytes=100)
    assert caught.value.messages == ["Upstream result is too large"]


async def test_unparseable_redirect_is_an_upstream_failure(fake, http, ftime) -> None:
    fake.result_url = f"{fake.base_url}/redirect?to=http://%5B::1"
    with pytest.raises(UpstreamFailed):
        await engine(fake, http, ftime).edit(input_image(), "p", OPTIONS)
