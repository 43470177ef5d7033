"""Per-upstream concurrency cap with a fair (FIFO) waiting queue and a bounded wait.

This is the in-process one; `shared_limiter` shares a cap between replicas through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Protocol

from imagine.errors import RateLimited


class UpstreamQueueFull(RateLimited):
    """429 after admission: the provider's in-flight cap stayed full for the bounded wait.

    Like any domain error after admission, the pipeline fails the task, releases its
    credits and answers 429 with the task_id.
    """


class SlotLimiter(Protocol):
    """A provider key's in-flight cap: in this process (`Limiter`) or shared through Redis."""

    def slot(self, max_wait: float) -> AbstractAsyncContextManager[None]:
        """Hold one slot for the block, after waiting at most `max_wait` (else 429)."""
        ...


class Limiter:
    """At most `capacity` holders at once; waiters are served strictly in arrival order.

    A released slot is handed directly to the oldest waiter, so a newcomer can never
    overtake the queue. A waiter that gives up (timeout, cancellation) leaves the queue.
    """

    def __init__(self, capacity: int, name: str = "") -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.name = name
        self._held = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_flight(self) -> int:
        """Slots held right now."""
        return self._held

    @property
    def waiting(self) -> int:
        """Callers queued for a slot right now."""
        return sum(1 for w in self._waiters if not w.done())

    async def acquire(self, max_wait: float) -> None:
        """Take a slot, waiting at most `max_wait` seconds in the queue; else UpstreamQueueFull."""
        if self._held < self.capacity and not self._waiters:
            self._held += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(max(max_wait, 0.0)):
                await asyncio.shield(waiter)
        except TimeoutError:
            self._abandon(waiter)
            raise UpstreamQueueFull() from None
        except asyncio.CancelledError:
            self._abandon(waiter)
            raise

    def _abandon(self, waiter: asyncio.Future[None]) -> None:
        """Leave the queue; a slot handed over just as we gave up is passed on."""
        if waiter.done():
            self.release()
            return
        waiter.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def release(self) -> None:
        """Give a slot back, handing it to the oldest live waiter if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._held -= 1

    @asynccontextmanager
    async def slot(self, max_wait: float) -> AsyncIterator[None]:
        """Hold one slot for the duration of the block."""
        await self.acquire(max_wait)
        try:
            yield
        finally:
            self.release()


@asynccontextmanager
async def hold_all(limiters: Sequence[SlotLimiter], max_wait: float) -> AsyncIterator[None]:
    """Hold a slot of each limiter (in the given order), within one overall wait budget."""
    loop = asyncio.get_running_loop()
    end = loop.time() + max_wait
    async with AsyncExitStack() as stack:
        for limiter in limiters:
            await stack.enter_async_context(limiter.slot(end - loop.time()))
        yield
