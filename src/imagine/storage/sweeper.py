"""Deletes the bytes of expired outputs."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.clock import Clock
from imagine.storage import repository
from imagine.storage.store import Store

log = structlog.get_logger(__name__)


async def sweep_expired(
    sessions: async_sessionmaker[AsyncSession], store: Store, clock: Clock
) -> int:
    """Delete expired outputs' bytes in batches; returns how many were deleted."""
    total = 0
    while True:
        async with sessions() as session:
            names = await repository.expired_outputs(session, clock.now())
        if not names:
            break
        for name in names:
            await store.delete(name)
        async with sessions.begin() as session:
            await repository.mark_deleted(session, names, clock.now())
        total += len(names)
    if total:
        log.info("expired outputs deleted", count=total)
    return total
