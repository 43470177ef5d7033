"""Deletes stored objects no database row owns: what a crash between storing and committing
leaves behind (SIGKILL, power loss), so the store and the database agree after a sweep.

Bytes are written before their row commits (a row must never point at missing bytes), so
an object without a row is either in the middle of that short step or an orphan: only
objects older than the grace period are judged. Each table that keeps object names is one
`KeyOwner`: it says which names it would own and which of those it does own. An object no
owner claims is never touched (a shared bucket may hold other things); one that several
claim (outputs and uploads share a name form) is kept while any of them has a row for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.clock import Clock
from imagine.db.schema import Output, Upload
from imagine.storage.store import PARTIAL_PREFIX, Store, valid_object_name

log = structlog.get_logger(__name__)


class KeyOwner(Protocol):
    """A table that keeps object names: which names are its kind, and which have a row."""

    name: str

    def claims(self, key: str) -> bool:
        """Whether `key` is the kind of name this table would own."""
        ...

    async def owned(self, session: AsyncSession, keys: list[str]) -> set[str]:
        """Those of `keys` a live row points at."""
        ...


class OutputOwner:
    """Edit outputs: `outputs.name`, live until the expiry sweep marks it deleted."""

    name = "outputs"

    def claims(self, key: str) -> bool:
        """Output names: random, top-level, .png or .jpg."""
        return valid_object_name(key)

    async def owned(self, session: AsyncSession, keys: list[str]) -> set[str]:
        """Outputs with a row whose bytes are not yet deleted."""
        rows = await session.execute(
            select(Output.name).where(Output.name.in_(keys), Output.deleted_at.is_(None))
        )
        return {row[0] for row in rows}


class UploadOwner:
    """Uploaded inputs: `uploads.object_name`, live until the upload sweep deletes the row."""

    name = "uploads"

    def claims(self, key: str) -> bool:
        """Upload names share the outputs' form (random, top-level)."""
        return valid_object_name(key)

    async def owned(self, session: AsyncSession, keys: list[str]) -> set[str]:
        """Uploads with a row (expired ones go with their row, in the upload sweep)."""
        rows = await session.execute(select(Upload.object_name).where(Upload.object_name.in_(keys)))
        return {row[0] for row in rows}


class PartialWrites:
    """A local directory's temporary files: a write cut short before its rename."""

    name = "partial writes"

    def claims(self, key: str) -> bool:
        """The local store's temporary names."""
        return key.startswith(PARTIAL_PREFIX)

    async def owned(self, session: AsyncSession, keys: list[str]) -> set[str]:
        """None: a temporary file older than the grace period is never finished."""
        return set()


def default_owners() -> list[KeyOwner]:
    """Every table that owns stored objects (add one per table that keeps object names)."""
    return [OutputOwner(), UploadOwner(), PartialWrites()]


async def sweep_orphans(
    sessions: async_sessionmaker[AsyncSession],
    store: Store,
    clock: Clock,
    grace: timedelta,
    owners: Sequence[KeyOwner],
) -> int:
    """Delete objects older than `grace` that an owner claims but no row owns; how many."""
    cutoff = clock.now() - grace
    removed = 0
    async for batch in store.listing():
        old = [obj.name for obj in batch if obj.modified <= cutoff]
        # Several tables may claim the same form of name: an object is an orphan only when
        # some owner claims it and none of those that claim it has a row for it.
        claimed: set[str] = set()
        kept: set[str] = set()
        for owner in owners:
            mine = [name for name in old if owner.claims(name)]
            if not mine:
                continue
            claimed.update(mine)
            async with sessions() as session:
                kept |= await owner.owned(session, mine)
        for name in old:
            if name in claimed and name not in kept:
                await store.delete(name)
                removed += 1
                log.info("orphaned object deleted", object=name[:12])
    if removed:
        log.info("orphaned objects deleted", count=removed)
    return removed
