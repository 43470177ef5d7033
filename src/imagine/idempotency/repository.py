"""SQL of idempotency keys: claim (one winner by the unique (account_id, key)), find,
complete, release and sweep."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imagine.db.schema import IdempotencyKey


@dataclass(frozen=True)
class NewClaim:
    """What a first request records when it takes a key."""

    account_id: str
    key: str
    fingerprint: str
    request: str
    now: datetime
    locked_until: datetime
    expires_at: datetime


async def insert_claim(session: AsyncSession, claim: NewClaim) -> str:
    """Insert the running claim; raises IntegrityError when the key is already taken."""
    claim_id = str(uuid.uuid4())
    await session.execute(
        insert(IdempotencyKey).values(
            id=claim_id,
            account_id=claim.account_id,
            key=claim.key,
            fingerprint=claim.fingerprint,
            request=claim.request,
            created_at=claim.now,
            locked_until=claim.locked_until,
            expires_at=claim.expires_at,
        )
    )
    return claim_id


async def find(session: AsyncSession, account_id: str, key: str) -> IdempotencyKey | None:
    """The account's row for `key`, if any (expired or not)."""
    result = await session.execute(
        select(IdempotencyKey).where(
            IdempotencyKey.account_id == account_id, IdempotencyKey.key == key
        )
    )
    return result.scalar_one_or_none()


async def drop_if_dead(session: AsyncSession, claim_id: str, now: datetime) -> bool:
    """Delete the row if it expired, or if it is a claim whose holder is presumed lost."""
    result = await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.id == claim_id,
            or_(
                IdempotencyKey.expires_at <= now,
                (IdempotencyKey.status_code.is_(None)) & (IdempotencyKey.locked_until <= now),
            ),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def complete(
    session: AsyncSession, claim_id: str, *, status: int, body: str, headers: str
) -> bool:
    """Store the outcome of a running claim (False if the claim was lost meanwhile)."""
    result = await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim_id, IdempotencyKey.status_code.is_(None))
        .values(status_code=status, response_body=body, response_headers=headers)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, claim_id: str) -> None:
    """Forget a running claim, so that a retry with the same key runs."""
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.id == claim_id, IdempotencyKey.status_code.is_(None)
        )
    )


async def delete_expired(session: AsyncSession, now: datetime, limit: int = 500) -> int:
    """Delete at most `limit` expired keys; returns how many."""
    ids = list(
        (
            await session.execute(
                select(IdempotencyKey.id).where(IdempotencyKey.expires_at <= now).limit(limit)
            )
        ).scalars()
    )
    if ids:
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(ids)))
    return len(ids)
