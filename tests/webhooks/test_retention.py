"""Settled webhook deliveries and their attempts are forgotten after the retention period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from imagine.background import purge_webhook_history
from tests.conftest import Api
from tests.support import ImageHost, image_bytes
from tests.webhooks.helpers import attempts, deliveries, eventually
from tests.webhooks.receiver import Answer, Receiver


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhook_poll_interval": 0.05}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


async def test_settled_deliveries_are_purged_after_retention(
    api: Api, image_host: ImageHost, receiver: Receiver
) -> None:
    key = await api.account()
    url = image_host.add("/in.jpg", image_bytes())
    receiver.default = Answer(status=204)
    for _ in range(2):
        r = await api.imagine(key, prompt="sepia", image_url=url, webhook_url=receiver.url)
        assert r.status_code == 200

    async def settled() -> bool:
        rows = await deliveries(api.sessions)
        return len(rows) == 2 and all(d.status == "delivered" for d in rows)

    await eventually(settled, what="two delivered webhooks")
    retention = timedelta(days=30)
    assert await purge_webhook_history(api.sessions, api.clock, retention) == 0
    api.clock.advance(timedelta(days=31))
    assert await purge_webhook_history(api.sessions, api.clock, retention) == 2
    assert await deliveries(api.sessions) == []
    assert await attempts(api.sessions) == []
