"""Per-account in-flight limits (one process; a Redis-backed limiter plugs in for replicas)."""

from __future__ import annotations

from typing import Protocol


class InFlightLimiter(Protocol):
    """Counts requests in flight per account."""

    def try_acquire(self, account_id: str, limit: int) -> bool:
        """Take a slot if fewer than `limit` are taken."""
        ...

    def release(self, account_id: str) -> None:
        """Give a slot back."""
        ...


class LocalInFlightLimiter:
    """In-process counters; correct for one process (the event loop serialises updates)."""

    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}

    def try_acquire(self, account_id: str, limit: int) -> bool:
        """Take a slot if fewer than `limit` are taken."""
        current = self._in_flight.get(account_id, 0)
        if current >= limit:
            return False
        self._in_flight[account_id] = current + 1
        return True

    def release(self, account_id: str) -> None:
        """Give a slot back."""
        current = self._in_flight.get(account_id, 0)
        if current <= 1:
            self._in_flight.pop(account_id, None)
        else:
            self._in_flight[account_id] = current - 1
