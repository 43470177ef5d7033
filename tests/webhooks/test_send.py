"""One attempt against an in-memory transport: capped body, no redirects, errors recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx

from imagine.webhooks.delivery import MAX_RECORDED_BODY, Outcome, send
from imagine.webhooks.repository import Claim
from imagine.webhooks.signing import new_signing_secret

NOW = datetime(2026, 5, 1, tzinfo=UTC)


class Chunks(httpx.AsyncByteStream):
    """A response body that arrives in pieces, as from a socket."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 1000


def _claim() -> Claim:
    return Claim(
        id="msg_x",
        task_id="t",
        url="http://hooks.example/in",
        secret=None,
        payload='{"task_id":"t"}',
        attempts=0,
        token="tok",
        signing_secrets=[new_signing_secret()],
    )


async def _send(handler: httpx.MockTransport) -> tuple[list[httpx.Request], Outcome]:
    seen: list[httpx.Request] = []
    inner = handler.handle_async_request

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await inner(request)

    handler.handle_async_request = record  # type: ignore[method-assign]
    async with httpx.AsyncClient(transport=handler) as http:
        outcome = await send(http, _claim(), now=NOW, deadline=2)
    return seen, outcome


async def test_redirect_is_not_followed_and_body_is_capped() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/in":
            return httpx.Response(302, headers={"location": "/other"}, stream=Chunks())
        return httpx.Response(200)

    seen, outcome = await _send(httpx.MockTransport(answer))
    assert [r.url.path for r in seen] == ["/in"]
    assert outcome.status_code == 302
    assert outcome.body == "x" * MAX_RECORDED_BODY
    assert outcome.error is None
    assert seen[0].headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert "x-webhook-secret" not in seen[0].headers


async def test_an_unexpected_transport_error_is_recorded_not_raised() -> None:
    def refuse(_request: httpx.Request) -> httpx.Response:
        raise ValueError("destination address is not allowed")

    _seen, outcome = await _send(httpx.MockTransport(refuse))
    assert outcome.status_code is None
    assert outcome.error == "ValueError: destination address is not allowed"


async def test_a_refused_destination_is_final_and_never_dialled() -> None:
    """The real guarded client refuses 127.0.0.2 (not allowed) before any connection."""
    import random

    from imagine.fetch.client import build_outbound_client
    from imagine.settings import Settings
    from imagine.webhooks import repository as repo
    from imagine.webhooks.delivery import decide

    settings = Settings(fetch_allow=["127.0.0.1/32"])
    claim = _claim()
    claim = Claim(**{**claim.__dict__, "url": "http://127.0.0.2:9/hook"})
    async with build_outbound_client(settings) as http:
        outcome = await send(http, claim, now=NOW, deadline=2)
    assert outcome.refused
    assert outcome.status_code is None
    assert outcome.error is not None and "IMAGINE_FETCH_ALLOW" in outcome.error

    record = decide(
        claim, outcome, NOW, NOW, schedule=settings.webhook_retry_schedule, rng=random.Random(0)
    )
    assert record.new_status == repo.FAILED
    assert record.next_attempt_at is None
