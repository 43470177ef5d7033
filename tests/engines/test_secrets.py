"""No provider key, provider URL or raw provider error text reaches clients or info logs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from structlog.testing import capture_logs

from imagine.engines.base import EditOptions
from imagine.engines.bfl import BflEngine
from imagine.engines.fal import FalEngine
from imagine.engines.hosted import HostedEngine
from imagine.engines.hosts import HostPolicy
from imagine.engines.limiter import Limiter
from imagine.engines.replicate import ReplicateEngine
from imagine.engines.upstream import UpstreamClient
from imagine.errors import ImagineError

from .fake_bfl import bfl_app
from .fake_hosted import fal_app, replicate_app
from .fakes import (
    LEAKY_DETAIL,
    SECRET,
    Answer,
    FakeProvider,
    FakeServer,
    FakeTime,
    input_image,
    provider_client,
)

OPTIONS = EditOptions("flux-kontext-max", "1:1", 1024, 1024)


def _bfl(fake: FakeProvider, client: UpstreamClient) -> HostedEngine:
    return BflEngine(client, fake.base_url, "flux-kontext-max", [Limiter(6)], 120.0)


def _fal(fake: FakeProvider, client: UpstreamClient) -> HostedEngine:
    return FalEngine(client, fake.base_url, "fal-ai/flux-pro/kontext/max", [Limiter(6)], 120.0)


def _replicate(fake: FakeProvider, client: UpstreamClient) -> HostedEngine:
    return ReplicateEngine(
        client, fake.base_url, "black-forest-labs/flux-kontext-max", [Limiter(6)], 120.0
    )


PROVIDERS: dict[str, tuple[Callable[[FakeServer], Starlette], dict[str, str], Any]] = {
    "bfl": (bfl_app, {"x-key": SECRET}, _bfl),
    "fal": (fal_app, {"Authorization": f"Key {SECRET}"}, _fal),
    "replicate": (replicate_app, {"Authorization": f"Bearer {SECRET}"}, _replicate),
}

SCENARIOS: dict[str, Callable[[FakeProvider], None]] = {
    "ok": lambda f: None,
    "error": lambda f: setattr(f, "outcome", "error"),
    "malformed": lambda f: setattr(f, "outcome", "malformed"),
    "402": lambda f: f.submit_plan.append(Answer(402, {"detail": LEAKY_DETAIL})),
    "401": lambda f: f.submit_plan.append(Answer(401, {"detail": LEAKY_DETAIL})),
    "422": lambda f: f.submit_plan.append(Answer(422, {"detail": LEAKY_DETAIL})),
    "5xx": lambda f: f.submit_plan.extend([Answer(500, LEAKY_DETAIL)] * 3),
    "429": lambda f: f.submit_plan.append(Answer(429, LEAKY_DETAIL, {"Retry-After": "2"})),
    "poll-5xx": lambda f: f.poll_plan.extend([Answer(502, LEAKY_DETAIL)] * 3),
    "slow": lambda f: setattr(f, "pending_polls", 10_000),
    "expired": lambda f: setattr(f, "result_ttl", -1.0),
    "foreign": lambda f: setattr(f, "polling_url", "https://attacker.example/steal"),
}


@pytest.fixture(scope="module", params=sorted(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeServer]]:
    with FakeServer(PROVIDERS[request.param][0]) as running:
        yield request.param, running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with provider_client() as client:
        yield client


def _leaks(text: str, base_url: str) -> list[str]:
    host_port = base_url.removeprefix("http://")
    needles = [SECRET, host_port, "http://", "https://", LEAKY_DETAIL, "internal trace"]
    return [n for n in needles if n in text]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_nothing_secret_leaks(provider, http, scenario) -> None:
    name, server = provider
    fake = server.reset()
    SCENARIOS[scenario](fake)
    ftime = FakeTime()
    client = UpstreamClient(
        name, http, HostPolicy(fake.base_url), PROVIDERS[name][1], ftime.clock, ftime.sleep
    )
    engine = PROVIDERS[name][2](fake, client)
    error: ImagineError | None = None
    with capture_logs() as logs:
        try:
            await engine.edit(input_image(), "p", OPTIONS)
        except ImagineError as exc:
            error = exc
    if scenario not in ("ok", "429", "poll-5xx"):
        assert error is not None, scenario
    if error is not None:
        client_visible = f"{error} {error.body()} {error.messages}"
        assert _leaks(client_visible, fake.base_url) == []
        assert all(len(m) < 60 for m in error.messages)
    loud = [e for e in logs if e["log_level"] != "debug"]
    assert loud, "engines should say what happened"
    assert _leaks(repr(loud), fake.base_url) == []
    assert repr(client) == f"UpstreamClient({name!r})"
    if scenario == "402":
        assert any(e["log_level"] == "error" and "CREDITS" in e["event"] for e in logs)
