"""Expired uploads are deleted (bytes and row) a bounded amount per sweep."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from imagine.db.schema import Upload
from imagine.uploads.sweeper import sweep_expired_uploads
from tests.conftest import Api
from tests.support import image_bytes


async def _count(api: Api) -> int:
    async with api.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Upload)) or 0)


async def test_sweep_is_batch_bounded_and_keeps_live_uploads(api: Api) -> None:
    key = await api.account()
    for _ in range(5):
        r = await api.client.post(
            "/api/v1/uploads",
            content=image_bytes((32, 32), "PNG"),
            headers={"Authorization": key, "Content-Type": "image/png"},
        )
        assert r.status_code == 201, r.text
    api.clock.advance(timedelta(hours=1, seconds=1))
    live = await api.client.post(
        "/api/v1/uploads",
        content=image_bytes((32, 32), "PNG"),
        headers={"Authorization": key, "Content-Type": "image/png"},
    )
    store, sessions, clock = api.services.store, api.sessions, api.clock
    assert await sweep_expired_uploads(sessions, store, clock, batch=2, max_batches=2) == 4
    assert await _count(api) == 2
    assert await sweep_expired_uploads(sessions, store, clock, batch=2, max_batches=2) == 1
    assert await sweep_expired_uploads(sessions, store, clock) == 0
    assert await _count(api) == 1
    got = await api.client.get(live.json()["image_url"], headers={"Authorization": key})
    assert got.status_code == 200
