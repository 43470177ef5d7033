"""The Redis-shared provider cap: one cap across replicas, fair, leased, bounded wait."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from imagine.engines.hosted import HostedEngine
from imagine.engines.limiter import Limiter, UpstreamQueueFull, hold_all
from imagine.engines.shared_limiter import QUEUE_LEASE_MS, RedisSlotLimiter
from imagine.errors import RateLimited
from imagine.services import build_services
from imagine.settings import Settings


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    """Two Redis connections: what two gateway processes would each hold."""
    a, b = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


def pair(
    replicas: tuple[Redis, Redis], capacity: int, lease: float = 30.0
) -> tuple[RedisSlotLimiter, RedisSlotLimiter]:
    """The same provider cap, as each of two replicas builds it."""
    prefix = f"imagine-test:{uuid.uuid4().hex}:"
    return (
        RedisSlotLimiter(replicas[0], "bfl:key", capacity, lease_seconds=lease, prefix=prefix),
        RedisSlotLimiter(replicas[1], "bfl:key", capacity, lease_seconds=lease, prefix=prefix),
    )


async def test_the_cap_holds_across_replicas(replicas) -> None:
    a, b = pair(replicas, 3)
    active, peak, done = 0, 0, 0

    async def work(limiter: RedisSlotLimiter) -> None:
        nonlocal active, peak, done
        async with limiter.slot(30.0):
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.02)
            active -= 1
            done += 1

    await asyncio.gather(*(work(a if i % 2 else b) for i in range(24)))
    assert peak == 3 and done == 24
    assert await a.in_flight() == 0


async def test_waiters_are_served_in_arrival_order_across_replicas(replicas) -> None:
    a, b = pair(replicas, 1)
    holder = await a.acquire(1.0)
    order: list[int] = []

    async def waiter(i: int) -> None:
        async with (a if i % 2 else b).slot(10.0):
            order.append(i)
            await asyncio.sleep(0.01)

    tasks = []
    for i in range(5):
        tasks.append(asyncio.create_task(waiter(i)))
        await asyncio.sleep(0.05)  # each has queued before the next arrives
    await a.release(holder)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_a_bounded_wait_answers_429_and_leaves_the_queue(replicas) -> None:
    a, b = pair(replicas, 1)
    held = await a.acquire(1.0)
    with pytest.raises(UpstreamQueueFull) as caught:
        await b.acquire(0.2)
    assert isinstance(caught.value, RateLimited) and caught.value.status == 429
    await a.release(held)
    # The one who gave up is not ahead in the queue: a newcomer gets the free slot at once.
    token = await b.acquire(0.1)
    await b.release(token)


async def test_a_dead_replicas_slot_returns_after_its_lease(replicas) -> None:
    a, b = pair(replicas, 1, lease=1.0)
    await a.acquire(1.0)  # taken, then the replica "dies": no renewal, no release
    loop = asyncio.get_running_loop()
    started = loop.time()
    token = await b.acquire(5.0)
    assert 0.5 < loop.time() - started < 3.0
    await b.release(token)


async def test_a_held_slot_is_renewed_past_its_lease(replicas) -> None:
    a, b = pair(replicas, 1, lease=0.6)
    async with a.slot(1.0):
        with pytest.raises(UpstreamQueueFull):
            await b.acquire(1.5)  # 2.5 leases: still held, because renewed
    token = await b.acquire(1.0)
    await b.release(token)


async def test_a_dead_replicas_waiter_leaves_the_queue(replicas) -> None:
    a, b = pair(replicas, 1)
    held = await a.acquire(1.0)
    assert not await a._try("ghost")  # queued first, then its replica dies
    await a.release(held)
    loop = asyncio.get_running_loop()
    started = loop.time()
    token = await b.acquire(QUEUE_LEASE_MS / 1000 + 3)
    assert loop.time() - started >= QUEUE_LEASE_MS / 1000 - 1.0
    await b.release(token)


async def test_a_cancelled_waiter_takes_nothing(replicas) -> None:
    a, b = pair(replicas, 1)
    held = await a.acquire(1.0)
    waiting = asyncio.create_task(b.acquire(10.0))
    await asyncio.sleep(0.1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await a.release(held)
    assert await a.in_flight() == 0
    token = await a.acquire(0.1)
    await a.release(token)


async def test_hold_all_takes_the_endpoint_cap_then_the_key_cap(replicas) -> None:
    maxi, _ = pair(replicas, 1)
    key, _ = pair(replicas, 2)
    async with hold_all([maxi, key], 1.0):
        assert await maxi.in_flight() == 1 and await key.in_flight() == 1
        with pytest.raises(UpstreamQueueFull):
            async with hold_all([maxi, key], 0.2):
                pass
        assert await key.in_flight() == 1  # the failed attempt held nothing
    assert await maxi.in_flight() == 0 and await key.in_flight() == 0


async def test_replicas_on_one_redis_share_each_provider_keys_caps(redis_url, tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, bfl_api_key="bfl-key", engines={})
    services = build_services(settings)
    try:
        engine = services.routes["flux-kontext-max"].engine
        assert isinstance(engine, HostedEngine)
        caps = [(type(lim), getattr(lim, "capacity", None)) for lim in engine.limiters]
        assert caps == [(RedisSlotLimiter, 6), (RedisSlotLimiter, 24)]
    finally:
        await services.close()
    local = build_services(Settings(data_dir=tmp_path, bfl_api_key="bfl-key"))
    try:
        engine = local.routes["flux-kontext-max"].engine
        assert isinstance(engine, HostedEngine)
        assert all(isinstance(lim, Limiter) for lim in engine.limiters)
    finally:
        await local.close()
