"""Webhook delivery through the real app: a real receiver on loopback, a fake clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from imagine import admin
from imagine.services import Services
from imagine.webhooks import admin as webhooks_admin
from tests.conftest import Api
from tests.support import ImageHost, image_bytes
from tests.webhooks.helpers import (
    Fixed,
    attempts,
    deliveries,
    eventually,
    settled_after,
    signed_with,
    sync_clock_to_real_time,
)
from tests.webhooks.receiver import Answer, Receiver


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Poll the outbox often so tests wait milliseconds, not seconds."""
    return {"webhook_poll_interval": 0.05}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback."""
    with Receiver() as r:
        yield r


async def _received(receiver: Receiver, n: int) -> None:
    async def check() -> bool:
        return receiver.count() >= n

    await eventually(check, what=f"{n} webhook request(s)")


async def _edit(api: Api, key: str, image_host: ImageHost, **body: Any) -> str:
    url = image_host.add("/in.jpg", image_bytes())
    r = await api.imagine(key, prompt="make it sepia", image_url=url, **body)
    assert r.status_code == 200, r.text
    return str(r.json()["task_id"])


async def _fetch(api: Api, key: str, task_id: str) -> dict[str, Any]:
    r = await api.client.post(
        "/api/v1/fetch", json={"task_id": task_id}, headers={"Authorization": key}
    )
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


async def test_finished_task_is_posted_signed(
    api: Api, image_host: ImageHost, receiver: Receiver
) -> None:
    sync_clock_to_real_time(api)
    key = await api.account("hook@example.com")
    secret = (await admin.show_account(api.sessions, email="hook@example.com")).signing_secret
    task_id = await _edit(
        api, key, image_host, webhook_url=receiver.url, webhook_secret="s3cret value"
    )
    await _received(receiver, 1)
    got = receiver.requests[0]
    assert got.path == "/hook"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-webhook-secret"] == "s3cret value"
    assert got.headers["webhook-id"].startswith("msg_")
    assert got.headers["webhook-signature"].startswith("v1,")
    assert int(got.headers["webhook-timestamp"]) == int(api.clock.now().timestamp())
    # Any Standard Webhooks library verifies it with the account's secret.
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload == await _fetch(api, key, task_id)
    assert payload["status"] == "finished"
    assert payload["image_url"].startswith(api.url + "/files/")

    delivery = await settled_after(api, 1)
    assert delivery.id == got.headers["webhook-id"]
    assert delivery.status == "delivered"
    assert delivery.delivered_at is not None
    [attempt] = await attempts(api.sessions)
    assert (attempt.number, attempt.status_code, attempt.response_body) == (1, 200, "ok")
    assert attempt.error is None
    assert attempt.duration_ms >= 0


async def test_no_secret_no_secret_header_and_no_url_no_delivery(
    api: Api, image_host: ImageHost, receiver: Receiver
) -> None:
    key = await api.account()
    await _edit(api, key, image_host)
    await _edit(api, key, image_host, webhook_url=receiver.url)
    await _received(receiver, 1)
    assert "x-webhook-secret" not in receiver.requests[0].headers
    assert len(await deliveries(api.sessions)) == 1


def _no_jitter(services: Services) -> None:
    services.rng = Fixed(0.5)  # no jitter: waits are exactly 5 s, then 5 min


@pytest.mark.parametrize("prepare_services", [_no_jitter])
async def test_failing_receiver_gets_each_retry_once_on_schedule(
    api: Api, image_host: ImageHost, receiver: Receiver
) -> None:
    receiver.script = [Answer(500, b"boom"), Answer(503, b"busy"), Answer(200)]
    key = await api.account("hook@example.com")
    secret = (await admin.show_account(api.sessions, email="hook@example.com")).signing_secret
    await _edit(api, key, image_host, webhook_url=receiver.url)

    first = await settled_after(api, 1)
    assert first.status == "pending"
    assert first.next_attempt_at == first.updated_at + timedelta(seconds=5)
    api.clock.advance(timedelta(seconds=4))
    await asyncio.sleep(0.4)
    assert receiver.count() == 1, "retried before its time"
    api.clock.advance(timedelta(seconds=1))
    second = await settled_after(api, 2)
    assert receiver.count() == 2
    assert second.next_attempt_at == second.updated_at + timedelta(seconds=300)
    api.clock.advance(timedelta(seconds=300))
    done = await settled_after(api, 3)
    assert done.status == "delivered"
    api.clock.advance(timedelta(days=2))
    await asyncio.sleep(0.4)
    assert receiver.count() == 3

    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {done.id}, "webhook-id is stable across retries"
    assert len({r.headers["webhook-timestamp"] for r in receiver.requests}) == 3
    assert all(signed_with(secret, r) for r in receiver.requests)
    assert len({r.body for r in receiver.requests}) == 1
    recorded = await attempts(api.sessions)
    assert [(a.number, a.status_code) for a in recorded] == [(1, 500), (2, 503), (3, 200)]
    assert [a.response_body for a in recorded] == ["boom", "busy", "ok"]
    assert recorded[0].error == "HTTP 500"


async def test_failed_task_is_delivered_with_its_error(
    api: Api, image_host: ImageHost, receiver: Receiver
) -> None:
    key = await api.account()
    r = await api.imagine(
        key,
        prompt="make it sepia",
        image_url=image_host.base + "/missing.jpg",
        webhook_url=receiver.url,
    )
    assert r.status_code == 400
    task_id = r.json()["task_id"]
    await _received(receiver, 1)
    payload = json.loads(receiver.requests[0].body)
    assert payload == await _fetch(api, key, task_id)
    assert payload["status"] == "failed"
    assert payload["error"]
    assert payload["image_url"] is None


@pytest.mark.parametrize(
    "settings_overrides", [{"webhook_poll_interval": 0.05, "webhook_timeout": 1.0}]
)
async def test_slow_receiver_is_cut_off_at_the_timeout_and_retried(
    api: Api, image_host: ImageHost, receiver: Receiver
) -> None:
    receiver.script = [Answer(200, delay=4.0)]
    key = await api.account()
    await _edit(api, key, image_host, webhook_url=receiver.url)
    first = await settled_after(api, 1)
    assert first.status == "pending"
    [attempt] = await attempts(api.sessions)
    assert attempt.error == "timed out after 1 s"
    assert attempt.status_code is None
    assert 900 <= attempt.duration_ms < 2500
    api.clock.advance(timedelta(seconds=6))
    done = await settled_after(api, 2)
    assert done.status == "delivered"
    assert receiver.count() == 2


async def test_gone_stops_and_redirects_are_not_followed(
    api: Api, image_host: ImageHost, receiver: Receiver
) -> None:
    receiver.script = [
        Answer(302, headers={"location": receiver.url.replace("/hook", "/elsewhere")}),
        Answer(410, b"unsubscribed"),
    ]
    key = await api.account()
    await _edit(api, key, image_host, webhook_url=receiver.url)
    first = await settled_after(api, 1)
    assert (first.status, first.last_status_code) == ("pending", 302)
    api.clock.advance(timedelta(seconds=6))
    gone = await settled_after(api, 2)
    assert gone.status == "failed"
    assert "410" in (gone.last_error or "")
    api.clock.advance(timedelta(days=2))
    await asyncio.sleep(0.4)
    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]


async def test_retry_after_is_honoured(api: Api, image_host: ImageHost, receiver: Receiver) -> None:
    receiver.script = [Answer(429, headers={"retry-after": "3600"})]
    key = await api.account()
    await _edit(api, key, image_host, webhook_url=receiver.url)
    first = await settled_after(api, 1)
    assert first.next_attempt_at - first.updated_at == timedelta(seconds=3600)
    api.clock.advance(timedelta(minutes=10))
    await asyncio.sleep(0.4)
    assert receiver.count() == 1
    api.clock.advance(timedelta(minutes=50))
    assert (await settled_after(api, 2)).status == "delivered"


@pytest.mark.parametrize(
    "settings_overrides", [{"webhook_poll_interval": 0.05, "webhook_retry_schedule": [1, 2]}]
)
async def test_gives_up_after_the_schedule_then_redelivers_on_demand(
    api: Api, image_host: ImageHost, receiver: Receiver
) -> None:
    receiver.default = Answer(500)
    key = await api.account()
    task_id = await _edit(api, key, image_host, webhook_url=receiver.url)
    await settled_after(api, 1)
    api.clock.advance(timedelta(seconds=2))
    await settled_after(api, 2)
    api.clock.advance(timedelta(seconds=3))
    failed = await settled_after(api, 3)
    assert failed.status == "failed"
    api.clock.advance(timedelta(days=1))
    await asyncio.sleep(0.3)
    assert receiver.count() == 3
    listed = await webhooks_admin.list_deliveries(api.sessions, failed_only=True, limit=10)
    assert [d.id for d in listed] == [failed.id]

    receiver.default = Answer(200)
    assert await webhooks_admin.redeliver(api.sessions, api.clock, ref=task_id) == failed.id
    done = await settled_after(api, 1)
    assert done.status == "delivered"
    assert receiver.requests[-1].headers["webhook-id"] == failed.id
    assert len(await attempts(api.sessions)) == 4
    assert await webhooks_admin.list_deliveries(api.sessions, failed_only=True, limit=10) == []


async def test_rotated_secret_signs_alongside_the_old_one_during_the_grace(
    api: Api, image_host: ImageHost, receiver: Receiver
) -> None:
    sync_clock_to_real_time(api)
    key = await api.account("hook@example.com")
    old = (await admin.show_account(api.sessions, email="hook@example.com")).signing_secret
    new = await webhooks_admin.rotate_secret(
        api.sessions, api.clock, email="hook@example.com", grace=timedelta(hours=1)
    )
    assert new != old
    assert (await admin.show_account(api.sessions, email="hook@example.com")).signing_secret == new
    await _edit(api, key, image_host, webhook_url=receiver.url)
    await _received(receiver, 1)
    got = receiver.requests[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(got.body, got.headers)
    Webhook(new).verify(got.body, got.headers)

    api.clock.advance(timedelta(hours=2))
    await _edit(api, key, image_host, webhook_url=receiver.url)
    await _received(receiver, 2)
    later = receiver.requests[1]
    assert signed_with(new, later)
    assert not signed_with(old, later)
    assert len(later.headers["webhook-signature"].split(" ")) == 1
