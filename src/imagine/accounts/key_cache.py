"""A short in-process cache of API key → account, for authentication only.

Every API call resolves its key; without a cache that is a database round trip per request.
Entries live `ttl` seconds, so a revoked key (or a changed plan) takes effect within that
bound on every replica; unknown keys are never cached, so random keys cannot fill it. The
balance is never read from here: /account and the ledger read the database.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from imagine.accounts.keys import hash_key
from imagine.clock import Clock
from imagine.db.schema import Account

Lookup = Callable[[str], Awaitable[Account | None]]


class CachedKeyLookup:
    """Wraps a key lookup with a bounded, time-limited cache keyed by the key's hash."""

    def __init__(self, lookup: Lookup, clock: Clock, ttl: float, max_entries: int = 10_000) -> None:
        self._lookup = lookup
        self._clock = clock
        self._ttl = timedelta(seconds=ttl)
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[datetime, Account]] = OrderedDict()

    async def __call__(self, raw_key: str) -> Account | None:
        """The key's account, from the cache while fresh, else from the database."""
        if self._ttl <= timedelta(0):
            return await self._lookup(raw_key)
        digest = hash_key(raw_key)  # the raw key is never kept
        now = self._clock.now()
        hit = self._entries.get(digest)
        if hit is not None and hit[0] > now:
            self._entries.move_to_end(digest)
            return hit[1]
        account = await self._lookup(raw_key)
        if account is None:
            self._entries.pop(digest, None)
            return None
        self._entries[digest] = (now + self._ttl, account)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return account
