"""Deletes expired uploads: the bytes, then the row; a bounded amount per sweep."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.clock import Clock
from imagine.storage.store import Store
from imagine.uploads import repository

log = structlog.get_logger(__name__)


async def sweep_expired_uploads(
    sessions: async_sessionmaker[AsyncSession],
    store: Store,
    clock: Clock,
    *,
    batch: int = 200,
    max_batches: int = 25,
) -> int:
    """Delete up to `batch * max_batches` expired uploads (the rest wait for the next
    sweep); returns how many were deleted."""
    total = 0
    for _ in range(max_batches):
        async with sessions() as session:
            expired = await repository.expired_uploads(session, clock.now(), batch)
        if not expired:
            break
        for upload in expired:
            await store.delete(upload.object_name)
        async with sessions.begin() as session:
            await repository.delete_uploads(session, [u.id for u in expired])
        total += len(expired)
        if len(expired) < batch:
            break
    if total:
        log.info("expired uploads deleted", count=total)
    return total
