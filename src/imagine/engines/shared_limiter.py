"""A provider key's in-flight cap shared by every replica through Redis: fair and leased.

Per limiter three keys: `held` (slot token → lease end), `queue` (ticket → arrival number)
and `alive` (ticket → end of the waiter's queue lease). One Lua script, run atomically with
Redis' own clock (replicas' clocks may disagree), drops dead holders and waiters, queues the
caller and hands it a slot when it is among the first `free` waiters: arrival order across
replicas, FIFO-ish (a waiter polls, so two freed slots may go to the first two in either
order). A holder renews its lease while it holds the slot; a replica that dies (SIGKILL,
lost network) stops renewing, and its slots return after the lease. Waiters renew their
place on every poll, so a dead replica's waiters leave the queue within `QUEUE_LEASE_MS`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from imagine.engines.limiter import UpstreamQueueFull
from imagine.errors import ServiceBusy

log = structlog.get_logger(__name__)

# A waiter polls at least this often, so its place in the queue lives this long unrenewed.
QUEUE_LEASE_MS = 3000
_POLL_MIN, _POLL_MAX = 0.02, 0.25

# KEYS: held, queue, alive, seq. ARGV: cap, ticket, slot lease ms, queue lease ms.
# Returns 1 when the ticket now holds a slot, else 0 (still queued).
_TRY_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1])
local ticket = ARGV[2]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, gone in ipairs(dead) do
  redis.call('ZREM', KEYS[2], gone)
  redis.call('ZREM', KEYS[3], gone)
end
if redis.call('ZSCORE', KEYS[1], ticket) then
  return 1
end
if not redis.call('ZSCORE', KEYS[2], ticket) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ticket)
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ticket)
local ttl = tonumber(ARGV[3]) + tonumber(ARGV[4]) + 60000
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
local free = cap - redis.call('ZCARD', KEYS[1])
if free <= 0 then
  return 0
end
local rank = redis.call('ZRANK', KEYS[2], ticket)
if rank < free then
  redis.call('ZREM', KEYS[2], ticket)
  redis.call('ZREM', KEYS[3], ticket)
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ticket)
  return 1
end
return 0
"""

# KEYS: held. ARGV: token, lease ms. Returns 1 when the lease was extended, 0 when it was lost.
_RENEW = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""


class RedisSlotLimiter:
    """At most `capacity` holders across every replica sharing `redis` and `name`."""

    def __init__(
        self,
        redis: Redis,
        name: str,
        capacity: int,
        *,
        lease_seconds: float = 30.0,
        prefix: str = "imagine:provider:",
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.name = name
        self.capacity = capacity
        self._redis = redis
        self._lease_ms = int(lease_seconds * 1000)
        base = f"{prefix}{name}"
        # One hash tag: the four keys live in one slot of a Redis cluster too.
        self._keys = [
            f"{{{base}}}:held",
            f"{{{base}}}:queue",
            f"{{{base}}}:alive",
            f"{{{base}}}:seq",
        ]

    async def in_flight(self) -> int:
        """Slots held now by live leases, across replicas."""
        now_s, now_us = await self._redis.time()
        now_ms = int(now_s) * 1000 + int(now_us) // 1000
        return int(await self._redis.zcount(self._keys[0], f"({now_ms}", "+inf"))

    async def _try(self, ticket: str) -> bool:
        got = await self._redis.eval(
            _TRY_ACQUIRE, 4, *self._keys, self.capacity, ticket, self._lease_ms, QUEUE_LEASE_MS
        )
        return int(got) == 1

    async def acquire(self, max_wait: float) -> str:
        """A slot token, after waiting in the shared queue at most `max_wait`; else 429."""
        ticket = secrets.token_hex(12)
        pause = _POLL_MIN
        try:
            if await self._try(ticket):  # a free slot is taken even with no time left to wait
                return ticket
            with anyio.fail_after(max(max_wait, 0.0)):
                while True:
                    await anyio.sleep(pause)
                    pause = min(pause * 1.5, _POLL_MAX)
                    if await self._try(ticket):
                        break
        except TimeoutError:
            await self._leave(ticket)
            raise UpstreamQueueFull() from None
        except RedisError as exc:
            await self._leave(ticket)
            log.warning("shared provider limiter unavailable", limiter=self.name, error=str(exc))
            raise ServiceBusy("Provider limiter unavailable, retry shortly") from None
        except BaseException:
            # Cancelled, possibly after the script handed us the slot: give back either way.
            await self._leave(ticket)
            raise
        return ticket

    async def _leave(self, ticket: str) -> None:
        """Out of the queue, and the slot back if the ticket got one (idempotent)."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.zrem(self._keys[0], ticket)
                    pipe.zrem(self._keys[1], ticket)
                    pipe.zrem(self._keys[2], ticket)
                    await pipe.execute()
            except RedisError as exc:
                # The lease (or queue lease) runs out by itself.
                log.warning("shared provider slot not returned", limiter=self.name, error=str(exc))

    async def release(self, token: str) -> None:
        """Give a slot back."""
        await self._leave(token)

    async def _keep_alive(self, token: str) -> None:
        """Renew the lease every third of it while the slot is held."""
        while True:
            await anyio.sleep(self._lease_ms / 3000)
            try:
                kept = await self._redis.eval(_RENEW, 1, self._keys[0], token, self._lease_ms)
            except RedisError as exc:
                log.warning("provider slot lease not renewed", limiter=self.name, error=str(exc))
                continue
            if int(kept) == 0:
                # Lost (Redis restarted, or this process stalled past the lease): the task
                # runs on; the cap may be passed by one until it ends.
                log.warning("provider slot lease lost", limiter=self.name)
                return

    @asynccontextmanager
    async def slot(self, max_wait: float) -> AsyncIterator[None]:
        """Hold one shared slot (its lease renewed) for the duration of the block."""
        token = await self.acquire(max_wait)
        # A plain task, not a task group around the caller's block: the renewal must never
        # cancel or wrap what the block raises.
        renewal = asyncio.create_task(self._keep_alive(token))
        try:
            yield
        finally:
            renewal.cancel()
            await self.release(token)
