"""Overload is a clear 503 with Retry-After, never a 500: with every database connection of
the process taken for longer than IMAGINE_DB_POOL_TIMEOUT, API calls are refused in the
contract's error shape and no credit moves."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from imagine.db.engine import read_session_factory
from tests.conftest import Api
from tests.support import ImageHost, image_bytes

TINY_POOL = {"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout": 0.2, "auth_cache_ttl": 60}


@pytest.mark.parametrize("settings_overrides", [TINY_POOL])
async def test_an_exhausted_pool_answers_503_with_retry_after(
    api: Api, image_host: ImageHost, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        # Holding the app's connection from the test needs a driver not bound to the
        # server's event loop; the pool and the 503 mapping are the same on PostgreSQL.
        pytest.skip("asyncpg connections belong to the server's event loop")
    key = await api.account(credits=16)
    headers = {"Authorization": key}
    assert (await api.client.get("/api/v1/account", headers=headers)).status_code == 200
    url = image_host.add("/in.jpg", image_bytes())
    other = await api.account("other@example.com")
    async with api.services.db.connect():  # the only write connection, held
        # Writes wait, then get 503; reads have a pool of their own and still answer.
        r = await api.imagine(key, prompt="blur", image_url=url)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1"
        assert r.json() == {"errors": [{"msg": "Service busy, retry shortly"}]}
        assert (await api.client.get("/api/v1/account", headers=headers)).status_code == 200
        async with api.services.read_db.connect():  # and the only read connection
            for method, path, body in [
                ("GET", "/api/v1/account", None),
                ("POST", "/api/v1/fetch", {"task_id": "00000000-0000-0000-0000-000000000000"}),
            ]:
                r = await api.client.request(method, path, json=body, headers=headers)
                assert r.status_code == 503, (path, r.text)
                assert r.headers["retry-after"] == "1"
                assert r.json() == {"errors": [{"msg": "Service busy, retry shortly"}]}
            # A key not yet cached needs the pool for its lookup: the gate answers 503 too.
            r = await api.client.get("/api/v1/account", headers={"Authorization": other})
            assert (r.status_code, r.headers["retry-after"]) == (503, "1")
    r = await api.client.get("/api/v1/account", headers=headers)
    assert (r.status_code, r.json()["credits"]) == (200, 16)


async def test_reads_do_not_wait_for_a_sqlite_writer(api: Api, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock only")
    key = await api.account()
    # Another process (here: another engine) holds the write lock of the database file.
    async with api.sessions.begin() as writer:
        await writer.execute(text("UPDATE accounts SET credits = 5"))
        reads = read_session_factory(api.services.read_db)
        async with reads() as session:
            count = await session.execute(text("SELECT count(*) FROM accounts"))
            assert count.scalar_one() == 1
        r = await api.client.get("/api/v1/account", headers={"Authorization": key}, timeout=10)
        assert r.status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"db_lock_timeout": 0.3, "auth_cache_ttl": 60}])
async def test_a_write_lock_held_elsewhere_answers_503_not_500(
    api: Api, image_host: ImageHost, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's file lock only")
    key = await api.account(credits=16)
    headers = {"Authorization": key}
    assert (await api.client.get("/api/v1/account", headers=headers)).status_code == 200
    url = image_host.add("/in.jpg", image_bytes())
    # Another process (e.g. a second replica on the same file) keeps the write lock.
    other = sqlite3.connect(make_url(database_url).database or "", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        r = await api.imagine(key, prompt="blur", image_url=url)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1"
        assert r.json() == {"errors": [{"msg": "Service busy, retry shortly"}]}
        # Reads never wait for the writer.
        r = await api.client.get("/api/v1/account", headers=headers)
        assert (r.status_code, r.json()["credits"]) == (200, 16)
    finally:
        other.execute("ROLLBACK")
        other.close()
    r = await api.imagine(key, prompt="blur", image_url=url)
    assert r.status_code == 200, r.text
