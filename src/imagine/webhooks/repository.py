"""All SQL about webhook deliveries and attempts. Callers own the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imagine.db.schema import Account, WebhookAttempt, WebhookDelivery
from imagine.webhooks.signing import new_signing_secret

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
# PostgreSQL NOTIFY channel: a new outbox row committed (see webhooks/listener.py).
OUTBOX_CHANNEL = "imagine_outbox"


@dataclass(frozen=True)
class Claim:
    """A delivery a worker holds the lease of, with everything needed to send it."""

    id: str
    task_id: str
    url: str
    # Secrets stay out of repr(), so a traceback or a log line never carries them.
    secret: str | None = field(repr=False)
    payload: str
    attempts: int
    token: str
    signing_secrets: list[str] = field(repr=False)


@dataclass(frozen=True)
class AttemptRecord:
    """What one attempt did, and what the delivery becomes because of it."""

    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_body: str | None
    error: str | None
    new_status: str
    next_attempt_at: datetime | None


def new_delivery_id() -> str:
    """A fresh `webhook-id`."""
    return "msg_" + uuid.uuid4().hex


async def enqueue(
    session: AsyncSession,
    *,
    task_id: str,
    account_id: str,
    url: str,
    secret: str | None,
    payload: str,
    now: datetime,
) -> WebhookDelivery:
    """Write one outbox row, due now (call in the transaction that ends the task)."""
    delivery = WebhookDelivery(
        id=new_delivery_id(),
        task_id=task_id,
        account_id=account_id,
        url=url,
        secret=secret,
        payload=payload,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    await session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # Delivered to every listening worker when (and only if) this transaction commits.
        await session.execute(select(func.pg_notify(OUTBOX_CHANNEL, "")))
    return delivery


def signing_secrets(account: Account, now: datetime) -> list[str]:
    """The secrets to sign with now: the current one, plus the previous during its grace."""
    found = [account.signing_secret]
    until = account.previous_signing_secret_until
    if account.previous_signing_secret and until is not None and until > now:
        found.append(account.previous_signing_secret)
    return found


def _claimable(now: datetime) -> list[object]:
    return [
        WebhookDelivery.status == PENDING,
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
    ]


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, lease: timedelta, token: str
) -> list[Claim]:
    """Take the lease of up to `limit` due deliveries; no two workers get the same row.

    PostgreSQL skips rows other workers have locked (FOR UPDATE SKIP LOCKED); on every
    backend the conditional UPDATE re-checks the lease, so a row is claimed at most once.
    """
    ids = list(
        (
            await session.execute(
                select(WebhookDelivery.id)
                .where(*_claimable(now))  # type: ignore[arg-type]
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    claims: list[Claim] = []
    for delivery_id in ids:
        result = await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, *_claimable(now))  # type: ignore[arg-type]
            .values(claimed_until=now + lease, claim_token=token)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue
        row = (
            await session.execute(
                select(WebhookDelivery, Account)
                .join(Account, Account.id == WebhookDelivery.account_id)
                .where(WebhookDelivery.id == delivery_id)
                .execution_options(populate_existing=True)
            )
        ).one()
        delivery, account = row
        claims.append(
            Claim(
                id=delivery.id,
                task_id=delivery.task_id,
                url=delivery.url,
                secret=delivery.secret,
                payload=delivery.payload,
                attempts=delivery.attempts,
                token=token,
                signing_secrets=signing_secrets(account, now),
            )
        )
    return claims


async def record_attempt(
    session: AsyncSession, claim: Claim, worker: str, record: AttemptRecord, *, now: datetime
) -> bool:
    """Store the attempt and move the delivery on; False if the lease was lost meanwhile."""
    # Numbered over the delivery's whole life (redeliveries go on counting).
    earlier = (
        await session.execute(
            select(func.count(WebhookAttempt.id)).where(WebhookAttempt.delivery_id == claim.id)
        )
    ).scalar_one()
    session.add(
        WebhookAttempt(
            delivery_id=claim.id,
            number=int(earlier) + 1,
            worker=worker[:64],
            started_at=record.started_at,
            duration_ms=record.duration_ms,
            status_code=record.status_code,
            response_body=record.response_body,
            error=record.error,
        )
    )
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == claim.id, WebhookDelivery.claim_token == claim.token)
        .values(
            status=record.new_status,
            attempts=claim.attempts + 1,
            next_attempt_at=record.next_attempt_at or now,
            claimed_until=None,
            claim_token=None,
            last_status_code=record.status_code,
            last_error=record.error,
            updated_at=now,
            delivered_at=now if record.new_status == DELIVERED else None,
        )
    )
    await session.flush()
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def list_deliveries(
    session: AsyncSession, *, failed_only: bool = False, limit: int = 50
) -> list[WebhookDelivery]:
    """The newest deliveries, optionally only those that gave up."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.created_at.desc()).limit(limit)
    if failed_only:
        query = query.where(WebhookDelivery.status == FAILED)
    return list((await session.execute(query)).scalars())


async def attempts_of(session: AsyncSession, delivery_id: str) -> list[WebhookAttempt]:
    """Every attempt of a delivery, oldest first."""
    rows = await session.execute(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
        .order_by(WebhookAttempt.id)
    )
    return list(rows.scalars())


async def find_delivery(session: AsyncSession, ref: str) -> WebhookDelivery | None:
    """A delivery by its id, or the newest delivery of a task id."""
    found = await session.get(WebhookDelivery, ref)
    if found is not None:
        return found
    return (
        await session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.task_id == ref)
            .order_by(WebhookDelivery.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def rearm(session: AsyncSession, delivery_id: str, *, now: datetime) -> bool:
    """Make a delivery due now with a fresh retry budget; False while an attempt is in flight."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
        )
        .values(
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            claimed_until=None,
            claim_token=None,
            updated_at=now,
        )
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def rotate_signing_secret(
    session: AsyncSession, account_id: str, *, grace: timedelta, now: datetime
) -> str:
    """Give the account a new signing secret; the old one keeps signing for `grace`."""
    account = await session.get(Account, account_id, populate_existing=True)
    if account is None:
        raise LookupError(account_id)
    new = new_signing_secret()
    if grace > timedelta(0):
        account.previous_signing_secret = account.signing_secret
        account.previous_signing_secret_until = now + grace
    else:
        account.previous_signing_secret = None
        account.previous_signing_secret_until = None
    account.signing_secret = new
    await session.flush()
    return new


async def purge_settled(
    session: AsyncSession, *, settled_before: datetime, limit: int = 500
) -> int:
    """Delete delivered/failed deliveries (and their attempts) last touched before a cutoff."""
    ids = list(
        (
            await session.execute(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.status.in_((DELIVERED, FAILED)),
                    WebhookDelivery.updated_at < settled_before,
                )
                .limit(limit)
            )
        ).scalars()
    )
    if ids:
        await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
        await session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    return len(ids)
