"""The orphan sweep: objects no row owns (a crash between storing and committing) go, once
older than the grace period; owned, young and foreign objects stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from imagine.clock import FakeClock
from imagine.storage.orphans import OutputOwner, PartialWrites, sweep_orphans
from imagine.storage.store import LocalDirStore, new_object_name
from tests.conftest import Api
from tests.support import ImageHost, image_bytes

from .test_stores import s3_endpoint, s3_env  # noqa: F401 - fixtures

GRACE = timedelta(hours=1)


@pytest.fixture
def clock() -> FakeClock:
    # Object times come from the store (the file system, S3): start the clock at real time.
    return FakeClock(datetime.now(UTC))


@pytest.fixture(params=["dir", "s3"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "s3":
        # A prefix of its own: the bucket is shared by the module's tests.
        return {"store_url": f"{request.getfixturevalue('s3_env')}-{uuid.uuid4().hex}"}
    return {}


async def stored_names(api: Api) -> set[str]:
    names: set[str] = set()
    async for batch in api.services.store.listing():
        names.update(obj.name for obj in batch)
    return names


async def sweep(api: Api) -> int:
    # The test's own sessions: the server's pool belongs to its thread's event loop.
    services = api.services
    return await sweep_orphans(
        api.sessions, services.store, api.clock, GRACE, services.object_owners
    )


async def test_only_old_objects_without_a_row_are_deleted(api: Api, image_host: ImageHost) -> None:
    key = await api.account()
    r = await api.imagine(key, prompt="blur", image_url=image_host.add("/a.jpg", image_bytes()))
    assert r.status_code == 200, r.text
    finished = r.json()["image_url"].rsplit("/", 1)[1]
    # What a SIGKILL between `store.put` and the commit leaves: bytes, no row.
    orphan = new_object_name("png")
    await api.services.store.put(orphan, b"\x89PNG orphan")
    store = api.services.store
    foreign = None
    if isinstance(store, LocalDirStore):
        # A write cut short before its rename, and a file that is none of ours.
        out = Path(api.services.settings.resolved_output_dir())
        (out / ".tmp-k1ll3d").write_bytes(b"half")
        (out / "notes.txt").write_text("not ours")
        foreign = "notes.txt"
    before = await stored_names(api)
    assert {finished, orphan} <= before

    assert await sweep(api) == 0  # younger than the grace period: may still be committing
    assert await stored_names(api) == before

    api.clock.advance(GRACE + timedelta(minutes=1))
    removed = await sweep(api)
    after = await stored_names(api)
    assert orphan not in after and ".tmp-k1ll3d" not in after
    assert finished in after
    assert removed == (2 if foreign else 1)
    if foreign:
        assert foreign in after
    got = await api.client.get(r.json()["image_url"])
    assert got.status_code == 200


async def test_bytes_whose_row_says_deleted_are_orphans(api: Api, image_host: ImageHost) -> None:
    key = await api.account()
    r = await api.imagine(key, prompt="blur", image_url=image_host.add("/b.jpg", image_bytes()))
    name = r.json()["image_url"].rsplit("/", 1)[1]
    async with api.sessions.begin() as session:
        from imagine.storage import repository

        await repository.mark_deleted(session, [name], api.clock.now())
    api.clock.advance(GRACE * 2)
    assert await sweep(api) == 1
    assert name not in await stored_names(api)


def test_owners_claim_only_their_kind_of_name() -> None:
    outputs, partial = OutputOwner(), PartialWrites()
    assert outputs.claims(new_object_name("jpg")) and not outputs.claims("uploads/x.png")
    assert not outputs.claims(".tmp-abc") and partial.claims(".tmp-abc")
    assert not partial.claims("notes.txt") and not outputs.claims("notes.txt")
