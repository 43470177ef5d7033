"""Failover: the next upstream on an outage, never after acceptance or on moderation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from PIL import Image

from imagine.engines.base import EditOptions, EditResult, Engine
from imagine.engines.bfl import BflEngine
from imagine.engines.failover import FailoverEngine
from imagine.engines.fal import FalEngine
from imagine.engines.hosts import HostPolicy
from imagine.engines.limiter import Limiter
from imagine.engines.upstream import SubmitTimeout, UpstreamClient
from imagine.errors import (
    ContentPolicyViolation,
    RateLimited,
    UpstreamFailed,
    UpstreamTimeout,
    UpstreamUnavailable,
)

from .fake_bfl import bfl_app
from .fake_hosted import fal_app
from .fakes import SECRET, Answer, FakeProvider, FakeServer, FakeTime, input_image, provider_client

OPTIONS = EditOptions("flux-kontext-max", "1:1", 1024, 1024)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeServer, FakeServer]]:
    with FakeServer(bfl_app) as bfl, FakeServer(fal_app) as fal:
        yield bfl, fal


@pytest.fixture
def fakes(servers: tuple[FakeServer, FakeServer]) -> tuple[FakeProvider, FakeProvider]:
    return servers[0].reset(), servers[1].reset()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with provider_client() as client:
        yield client


def chain(
    fakes: tuple[FakeProvider, FakeProvider],
    http: httpx.AsyncClient,
    ftime: FakeTime,
    bfl_limiter: Limiter | None = None,
) -> FailoverEngine:
    bfl, fal = fakes
    bfl_client = UpstreamClient(
        "bfl", http, HostPolicy(bfl.base_url), {"x-key": SECRET}, ftime.clock, ftime.sleep
    )
    fal_client = UpstreamClient(
        "fal",
        http,
        HostPolicy(fal.base_url),
        {"Authorization": f"Key {SECRET}"},
        ftime.clock,
        ftime.sleep,
    )
    engines: list[tuple[str, Engine]] = [
        (
            "bfl",
            BflEngine(
                bfl_client,
                bfl.base_url,
                "flux-kontext-max",
                [bfl_limiter or Limiter(6)],
                120.0,
                queue_timeout=0.05,
            ),
        ),
        (
            "fal",
            FalEngine(
                fal_client, fal.base_url, "fal-ai/flux-pro/kontext/max", [Limiter(10)], 120.0
            ),
        ),
    ]
    return FailoverEngine(engines, ftime.clock, 120.0)


async def test_first_engine_serves_when_healthy(fakes, http) -> None:
    result = await chain(fakes, http, FakeTime()).edit(input_image(), "p", OPTIONS)
    assert result.engine == "bfl" and result.warnings == []
    assert fakes[1].requests == []


@pytest.mark.parametrize(
    "answers",
    [
        [Answer(402, {"detail": "Insufficient credits"})],  # out of credits
        [Answer(401, {"detail": "bad key"})],  # key rejected
        [Answer(500, "x")] * 3,  # 5xx outage before acceptance
        [Answer(429, None, {"Retry-After": "45"})] * 3,  # never accepted within its share
    ],
)
async def test_outage_before_acceptance_fails_over(fakes, http, answers) -> None:
    fakes[0].submit_plan = list(answers)
    result = await chain(fakes, http, FakeTime()).edit(input_image(), "p", OPTIONS)
    assert result.engine == "fal" and result.warnings == ["served by fallback engine fal"]
    assert fakes[0].submits == 0 and fakes[1].submits == 1


async def test_full_local_queue_fails_over(fakes, http) -> None:
    limiter = Limiter(1)
    await limiter.acquire(1.0)
    result = await chain(fakes, http, FakeTime(), limiter).edit(input_image(), "p", OPTIONS)
    assert result.engine == "fal" and fakes[0].submits == 0


async def test_moderation_is_final(fakes, http) -> None:
    fakes[0].outcome = "content_moderated"
    with pytest.raises(ContentPolicyViolation):
        await chain(fakes, http, FakeTime()).edit(input_image(), "p", OPTIONS)
    assert fakes[1].requests == []


async def test_timeout_after_acceptance_is_final(fakes, http) -> None:
    fakes[0].pending_polls = 10_000
    with pytest.raises(UpstreamTimeout) as caught:
        await chain(fakes, http, FakeTime()).edit(input_image(), "p", OPTIONS)
    assert not isinstance(caught.value, SubmitTimeout)
    assert fakes[0].submits == 1 and fakes[1].requests == []  # never double-submitted


async def test_failure_after_acceptance_is_final(fakes, http) -> None:
    fakes[0].outcome = "error"
    with pytest.raises(UpstreamFailed):
        await chain(fakes, http, FakeTime()).edit(input_image(), "p", OPTIONS)
    assert fakes[1].requests == []


async def test_all_down_raises_the_last_error(fakes, http) -> None:
    fakes[0].submit_plan = [Answer(402, {})]
    fakes[1].submit_plan = [Answer(402, {})]
    with pytest.raises(UpstreamUnavailable) as caught:
        await chain(fakes, http, FakeTime()).edit(input_image(), "p", OPTIONS)
    assert caught.value.status == 503


class _Stub:
    """A plain Engine (no shared deadline), e.g. the offline engine."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        self.calls += 1
        if self.error:
            raise self.error
        return EditResult(image=image, engine="stub")


async def test_plain_engines_in_a_chain() -> None:
    ftime = FakeTime()
    down, up = _Stub(RateLimited()), _Stub()
    result = await FailoverEngine([("a", down), ("b", up)], ftime.clock, 10).edit(
        input_image(), "p", OPTIONS
    )
    assert result.engine == "stub" and (down.calls, up.calls) == (1, 1)
    final = _Stub(ContentPolicyViolation())
    with pytest.raises(ContentPolicyViolation):
        await FailoverEngine([("a", final), ("b", up)], ftime.clock, 10).edit(
            input_image(), "p", OPTIONS
        )
    assert up.calls == 1
    with pytest.raises(ValueError):
        FailoverEngine([], ftime.clock, 10)


@pytest.mark.parametrize("status", [401, 402, 403])
async def test_account_refused_after_acceptance_is_final(fakes, http, status) -> None:
    # The key is rejected (or the account runs dry) while the accepted task runs: trying the
    # next provider would submit the same edit twice.
    fakes[0].poll_plan = [Answer(status, {"detail": "no"})]
    with pytest.raises(UpstreamFailed) as caught:
        await chain(fakes, http, FakeTime()).edit(input_image(), "p", OPTIONS)
    assert not isinstance(caught.value, UpstreamUnavailable)
    assert fakes[0].submits == 1 and fakes[1].requests == []
