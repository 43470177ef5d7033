"""Per-account in-flight limits: in-process by default, Redis when replicas share accounts."""

from __future__ import annotations

import secrets
from typing import Protocol

from redis.asyncio import Redis

from imagine.clock import Clock


class InFlightLimiter(Protocol):
    """Hands out at most `limit` concurrent slots per account."""

    async def acquire(self, account_id: str, limit: int) -> str | None:
        """A slot token, or None when `limit` slots are taken."""
        ...

    async def release(self, account_id: str, token: str) -> None:
        """Give a slot back."""
        ...


class LocalInFlightLimiter:
    """In-process slots; correct for one process (the event loop serialises updates)."""

    def __init__(self) -> None:
        self._slots: dict[str, set[str]] = {}

    async def acquire(self, account_id: str, limit: int) -> str | None:
        """A slot token, or None when `limit` slots are taken."""
        slots = self._slots.setdefault(account_id, set())
        if len(slots) >= limit:
            return None
        token = secrets.token_hex(8)
        slots.add(token)
        return token

    async def release(self, account_id: str, token: str) -> None:
        """Give a slot back."""
        slots = self._slots.get(account_id)
        if slots is not None:
            slots.discard(token)
            if not slots:
                del self._slots[account_id]


# Atomically: drop slots whose lease ran out (a crashed replica), then take one if free.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


class RedisInFlightLimiter:
    """Slots in a Redis sorted set per account, leased so a crashed replica's slots return."""

    def __init__(
        self,
        redis: Redis,
        *,
        lease_seconds: float,
        clock: Clock,
        prefix: str = "imagine:inflight:",
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._lease_ms = int(lease_seconds * 1000)
        self._prefix = prefix

    async def acquire(self, account_id: str, limit: int) -> str | None:
        """A slot token, or None when `limit` slots are taken."""
        now_ms = int(self._clock.now().timestamp() * 1000)
        token = secrets.token_hex(8)
        taken = await self._redis.eval(
            _ACQUIRE,
            1,
            self._prefix + account_id,
            now_ms,
            limit,
            now_ms + self._lease_ms,
            token,
            self._lease_ms,
        )
        return token if int(taken) == 1 else None

    async def release(self, account_id: str, token: str) -> None:
        """Give a slot back."""
        await self._redis.zrem(self._prefix + account_id, token)
