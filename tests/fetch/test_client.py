"""One guarded client per purpose, each with its own limits: what the image-fetch client
refuses (too big, too slow), the provider-API client takes; a deadline is its own error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagine.fetch.client import OutboundClients, build_outbound_clients, purpose_limits
from imagine.fetch.policy import DestinationRefused
from imagine.fetch.transport import DeadlineExceeded, ResponseTooLarge
from imagine.settings import Settings
from tests.engines.fakes import FakeServer

BIG = 64 * 1024


def _app(server: FakeServer) -> Starlette:
    async def big(request: Request) -> Response:
        return Response(b"x" * BIG, media_type="application/octet-stream")

    async def slow(request: Request) -> Response:
        await asyncio.sleep(1.5)
        return Response(b"late")

    return Starlette(routes=[Route("/big", big), Route("/slow", slow, methods=["GET", "POST"])])


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(_app) as running:
        yield running


@pytest.fixture
async def clients() -> AsyncIterator[OutboundClients]:
    settings = Settings(fetch_allow=["127.0.0.1/32"], fetch_max_bytes=1024, fetch_deadline=1.0)
    built = build_outbound_clients(settings)
    try:
        yield built
    finally:
        await built.aclose()


async def test_each_purpose_has_its_own_size_cap(server: FakeServer, clients) -> None:
    with pytest.raises(ResponseTooLarge):
        await clients.fetch.get(f"{server.base_url}/big")
    got = await clients.provider.get(f"{server.base_url}/big")
    assert len(got.content) == BIG


async def test_a_deadline_is_not_a_connect_timeout(server: FakeServer, clients) -> None:
    # A held answer passes the image-fetch deadline: the request was sent, so the error must
    # not read as one that never left (which callers may retry, even a submission).
    with pytest.raises(DeadlineExceeded) as caught:
        await clients.fetch.post(f"{server.base_url}/slow", json={})
    assert not isinstance(caught.value, httpx.ConnectTimeout | httpx.ConnectError)
    got = await clients.provider.post(f"{server.base_url}/slow", json={})
    assert got.content == b"late"


async def test_every_client_keeps_the_ssrf_guard() -> None:
    built = build_outbound_clients(Settings())
    try:
        for client in (built.fetch, built.provider, built.webhook):
            with pytest.raises(DestinationRefused):
                await client.get("http://127.0.0.1:9/")
            with pytest.raises(DestinationRefused):
                await client.get("http://169.254.169.254/latest/meta-data/")
    finally:
        await built.aclose()


def test_the_purposes_limits_come_from_their_settings() -> None:
    limits = purpose_limits(
        Settings(fetch_max_bytes=5_000_000, upstream_deadline=90, webhook_timeout=7)
    )
    assert limits["fetch"].max_bytes == 5_000_000 and limits["fetch"].deadline == 30.0
    assert limits["provider"].max_bytes == 30 * 1024 * 1024
    assert limits["provider"].deadline == 90
    assert limits["webhook"].deadline == 7
