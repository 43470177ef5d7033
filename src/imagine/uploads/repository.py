"""All SQL about uploads. Callers own the transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from imagine.db.schema import Upload


async def add_upload(session: AsyncSession, upload: Upload) -> None:
    """Record a stored upload."""
    session.add(upload)
    await session.flush()


async def live_upload(
    session: AsyncSession, upload_id: str, account_id: str, now: datetime
) -> Upload | None:
    """The account's upload `upload_id` if it has not expired; None for anything else."""
    upload = await session.get(Upload, upload_id)
    if upload is None or upload.account_id != account_id or upload.expires_at <= now:
        return None
    return upload


async def count_live(session: AsyncSession, account_id: str, now: datetime) -> int:
    """How many unexpired uploads the account holds."""
    count = await session.scalar(
        select(func.count())
        .select_from(Upload)
        .where(Upload.account_id == account_id, Upload.expires_at > now)
    )
    return int(count or 0)


async def expired_uploads(session: AsyncSession, now: datetime, limit: int) -> list[Upload]:
    """At most `limit` expired uploads, oldest expiry first."""
    rows = await session.scalars(
        select(Upload).where(Upload.expires_at <= now).order_by(Upload.expires_at).limit(limit)
    )
    return list(rows)


async def delete_uploads(session: AsyncSession, upload_ids: list[str]) -> None:
    """Forget these uploads (their bytes are already deleted)."""
    if upload_ids:
        await session.execute(delete(Upload).where(Upload.id.in_(upload_ids)))
