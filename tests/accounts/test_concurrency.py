"""Per-account in-flight limits: in-process, and shared through Redis by several replicas."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from imagine import admin
from imagine.accounts.concurrency import (
    InFlightLimiter,
    LocalInFlightLimiter,
    RedisInFlightLimiter,
)
from imagine.clock import FakeClock
from imagine.db.engine import create_engine, session_factory
from imagine.db.migrate import upgrade
from imagine.language import LanguageChecker
from imagine.services import build_services
from imagine.settings import Settings
from tests.support import ImageHost, bound_socket, image_bytes, live_server


async def _exercise(limiter: InFlightLimiter) -> None:
    account = f"acct-{uuid.uuid4()}"
    tokens = await asyncio.gather(*[limiter.acquire(account, 5) for _ in range(12)])
    taken = [t for t in tokens if t is not None]
    assert len(taken) == 5
    assert await limiter.acquire(account, 5) is None
    await limiter.release(account, taken[0])
    again = await limiter.acquire(account, 5)
    assert again is not None
    assert await limiter.acquire("someone-else", 5) is not None


async def test_local_limiter() -> None:
    await _exercise(LocalInFlightLimiter())


async def test_redis_limiter_and_lease_expiry(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    clock = FakeClock()
    try:
        limiter = RedisInFlightLimiter(
            redis, lease_seconds=60, clock=clock, prefix=f"test:{uuid.uuid4()}:"
        )
        await _exercise(limiter)
        account = "crashy"
        assert all([await limiter.acquire(account, 2), await limiter.acquire(account, 2)])
        assert await limiter.acquire(account, 2) is None
        clock.advance(timedelta(seconds=61))  # the replica holding them died: leases run out
        assert await limiter.acquire(account, 2) is not None
    finally:
        await redis.aclose()


async def test_two_replicas_share_the_limit_through_redis(
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    image_host: ImageHost,
    language_checker: LanguageChecker,
) -> None:
    slow = image_host.add("/slow.jpg", image_bytes((64, 64)))
    image_host.routes["/slow.jpg"].delay = 1.5
    engine = create_engine(database_url)
    await upgrade(engine)
    clock = FakeClock()
    key = await admin.create_account(
        session_factory(engine), clock, email="r@example.com", credits=1000, plan="basic"
    )
    await engine.dispose()
    socks = [bound_socket(), bound_socket()]
    common: dict[str, Any] = {
        "database_url": database_url,
        "fetch_allow": ["127.0.0.1/32"],
        "redis_url": redis_url,
        "log_level": "WARNING",
        "sweep_interval": 3600.0,
    }
    replicas = [
        build_services(
            Settings(
                data_dir=tmp_path / f"r{i}",
                public_url=f"http://127.0.0.1:{s.getsockname()[1]}",
                **common,
            ),
            clock=clock,
            language=language_checker,
        )
        for i, s in enumerate(socks)
    ]
    with live_server(replicas[0], socks[0]) as url_a, live_server(replicas[1], socks[1]) as url_b:
        async with httpx.AsyncClient(timeout=60) as client:
            results = await asyncio.gather(
                *[
                    client.post(
                        f"{url}/api/v1/imagine",
                        headers={"Authorization": key},
                        json={"prompt": "blur", "image_url": slow},
                    )
                    for url in [url_a, url_b] * 4
                ]
            )
    codes = sorted(r.status_code for r in results)
    assert codes == [200] * 5 + [429] * 3, codes


@pytest.mark.parametrize("plan,limit", [("starter", 10), ("growth", 25)])
def test_plan_limits(plan: str, limit: int) -> None:
    from imagine.accounts.plans import concurrency_limit

    assert concurrency_limit(plan) == limit
    assert concurrency_limit("basic") == 5
