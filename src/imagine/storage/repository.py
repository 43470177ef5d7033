"""SQL about stored outputs and their expiry."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imagine.db.schema import Output


async def add_output(
    session: AsyncSession,
    *,
    name: str,
    task_id: str,
    content_type: str,
    size: int,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Record a stored output (a Core INSERT: no ORM object to track and flush)."""
    await session.execute(
        insert(cast(Table, Output.__table__)).values(
            name=name,
            task_id=task_id,
            content_type=content_type,
            size=size,
            created_at=now,
            expires_at=expires_at,
        )
    )


async def get_output(session: AsyncSession, name: str) -> Output | None:
    """The output row for `name`."""
    return await session.get(Output, name)


async def expired_outputs(session: AsyncSession, now: datetime, limit: int = 500) -> list[str]:
    """Names of outputs past expiry whose bytes are not yet deleted."""
    rows = await session.execute(
        select(Output.name)
        .where(Output.expires_at <= now, Output.deleted_at.is_(None))
        .order_by(Output.expires_at)
        .limit(limit)
    )
    return [r[0] for r in rows]


async def mark_deleted(session: AsyncSession, names: list[str], now: datetime) -> None:
    """Remember that these outputs' bytes are gone."""
    if names:
        await session.execute(update(Output).where(Output.name.in_(names)).values(deleted_at=now))
