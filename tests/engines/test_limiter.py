"""The per-upstream limiter: a cap, a FIFO queue and a bounded wait."""

from __future__ import annotations

import asyncio

import pytest

from imagine.engines.limiter import Limiter, hold_all
from imagine.errors import ImagineError, RateLimited


async def test_never_more_than_capacity() -> None:
    limiter = Limiter(3)
    active, peak = 0, 0

    async def work() -> None:
        nonlocal active, peak
        async with limiter.slot(5.0):
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.001)
            active -= 1

    await asyncio.gather(*(work() for _ in range(30)))
    assert peak == 3 and limiter.in_flight == 0 and limiter.waiting == 0


async def test_waiters_are_served_in_arrival_order() -> None:
    limiter = Limiter(1)
    await limiter.acquire(1.0)
    order: list[int] = []

    async def waiter(i: int) -> None:
        async with limiter.slot(5.0):
            order.append(i)

    tasks = []
    for i in range(5):
        tasks.append(asyncio.create_task(waiter(i)))
        await asyncio.sleep(0)
    assert limiter.waiting == 5
    limiter.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_newcomer_cannot_overtake_the_queue() -> None:
    limiter = Limiter(1)
    await limiter.acquire(1.0)
    queued = asyncio.create_task(limiter.acquire(5.0))
    await asyncio.sleep(0)
    limiter.release()  # handed to the queued waiter, not left free
    with pytest.raises(RateLimited):
        await limiter.acquire(0.01)
    await queued
    assert limiter.in_flight == 1


async def test_bounded_wait_raises_rate_limited_and_leaves_the_queue() -> None:
    limiter = Limiter(1)
    await limiter.acquire(1.0)
    with pytest.raises(RateLimited) as caught:
        await limiter.acquire(0.02)
    assert caught.value.status == 429 and caught.value.body() == {
        "errors": [{"msg": "Rate limit exceeded"}]
    }
    assert isinstance(caught.value, ImagineError)  # an admitted task fails cleanly
    assert limiter.waiting == 0
    limiter.release()
    assert limiter.in_flight == 0


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    limiter = Limiter(1)
    await limiter.acquire(1.0)
    task = asyncio.create_task(limiter.acquire(5.0))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    limiter.release()
    assert limiter.in_flight == 0
    await limiter.acquire(0.01)


async def test_hold_all_releases_the_first_when_the_second_is_full() -> None:
    outer, inner = Limiter(2), Limiter(1)
    await inner.acquire(1.0)
    with pytest.raises(RateLimited):
        async with hold_all([outer, inner], 0.02):
            pass
    assert outer.in_flight == 0


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Limiter(0)
