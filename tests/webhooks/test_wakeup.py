"""A task ending in this process wakes the delivery loop: no waiting for the next poll."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api
from tests.support import ImageHost, image_bytes
from tests.webhooks.helpers import eventually
from tests.webhooks.receiver import Receiver


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """A poll interval far longer than the test may take."""
    return {"webhook_poll_interval": 60.0}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


async def test_finished_and_failed_tasks_wake_the_loop(
    api: Api, image_host: ImageHost, receiver: Receiver
) -> None:
    key = await api.account()
    hook = receiver.url
    good = image_host.add("/in.jpg", image_bytes())
    started = time.monotonic()
    r = await api.imagine(key, prompt="make it sepia", image_url=good, webhook_url=hook)
    assert r.status_code == 200

    async def one() -> bool:
        return receiver.count() >= 1

    await eventually(one, within=10, what="the finished task's webhook")
    bad = image_host.add("/bad.jpg", b"not an image")
    r = await api.imagine(key, prompt="blur", image_url=bad, webhook_url=hook)
    assert r.status_code == 400

    async def two() -> bool:
        return receiver.count() >= 2

    await eventually(two, within=10, what="the failed task's webhook")
    assert time.monotonic() - started < 30  # far below the 60 s poll interval
