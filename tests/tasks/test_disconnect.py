"""A client that leaves before its answer: without a webhook the edit is cancelled and not
charged; with a webhook it finishes (the result travels there) and is charged."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from imagine.services import Services
from tests.conftest import Api
from tests.support import ImageHost, image_bytes


async def _credits(api: Api, key: str) -> int:
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    return int(r.json()["credits"])


async def _eventually_credits(api: Api, key: str, expected: int) -> None:
    for _ in range(100):
        if await _credits(api, key) == expected:
            return
        await asyncio.sleep(0.1)
    assert await _credits(api, key) == expected


async def _leave_early(api: Api, key: str, body: dict[str, object]) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=0.5) as impatient:
        try:
            await impatient.post("/api/v1/imagine", json=body, headers={"Authorization": key})
        except httpx.TimeoutException:
            return
    raise AssertionError("the request should still have been running")


async def test_leaving_without_a_webhook_cancels_and_refunds(
    api: Api, image_host: ImageHost
) -> None:
    key = await api.account(credits=8)
    url = image_host.add("/slow.jpg", image_bytes())
    image_host.routes["/slow.jpg"].delay = 2.0
    await _leave_early(api, key, {"prompt": "blur", "image_url": url})
    await _eventually_credits(api, key, 8)
    account = (await api.client.get("/api/v1/account", headers={"Authorization": key})).json()
    assert account["total_images"] == 0


async def test_leaving_with_a_webhook_still_finishes(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=8)
    url = image_host.add("/slow.jpg", image_bytes())
    image_host.routes["/slow.jpg"].delay = 1.0
    body = {"prompt": "blur", "image_url": url, "webhook_url": "http://127.0.0.1:9/hook"}
    await _leave_early(api, key, body)
    await _eventually_credits(api, key, 0)


class FlakyRelease:
    """A limiter fake whose release fails (e.g. Redis went away)."""

    async def acquire(self, account_id: str, limit: int) -> str | None:
        return "slot"

    async def release(self, account_id: str, token: str) -> None:
        raise ConnectionError("redis is gone")


def _flaky_release(services: Services) -> None:
    services.limiter = FlakyRelease()


@pytest.mark.parametrize("prepare_services", [_flaky_release])
async def test_a_failing_slot_release_does_not_turn_success_into_500(
    api: Api, image_host: ImageHost
) -> None:
    key = await api.account(credits=16)
    url = image_host.add("/x.jpg", image_bytes())
    r = await api.imagine(key, prompt="blur", image_url=url)
    assert r.status_code == 200, r.text
    bad = image_host.add("/bad.jpg", b"nope")
    r = await api.imagine(key, prompt="blur", image_url=bad)
    assert r.status_code == 400
    assert "task_id" in r.json()
    assert await _credits(api, key) == 8
