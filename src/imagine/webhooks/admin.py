"""Operator actions on webhooks behind the CLI: list, redeliver, rotate the signing secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.accounts import repository as accounts_repo
from imagine.admin import AdminError
from imagine.clock import Clock
from imagine.webhooks import repository as repo

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class DeliveryLine:
    """One delivery as `imagine webhooks list` prints it."""

    id: str
    task_id: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    url: str


def parse_duration(text: str) -> timedelta:
    """`90`, `90s`, `30m`, `24h` or `7d` as a duration."""
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _UNITS else "s"
    number = value[:-1] if value[-1:] in _UNITS else value
    try:
        amount = float(number)
    except ValueError as exc:
        raise AdminError(f"not a duration: {text!r} (try 24h, 30m, 0)") from exc
    if amount < 0:
        raise AdminError("a duration cannot be negative")
    return timedelta(seconds=amount * _UNITS[unit])


async def list_deliveries(
    sessions: async_sessionmaker[AsyncSession], *, failed_only: bool, limit: int
) -> list[DeliveryLine]:
    """The newest deliveries (or only those that gave up)."""
    async with sessions() as session:
        rows = await repo.list_deliveries(session, failed_only=failed_only, limit=limit)
    return [
        DeliveryLine(
            r.id,
            r.task_id,
            r.status,
            r.attempts,
            r.last_status_code,
            r.last_error,
            r.next_attempt_at,
            r.url,
        )
        for r in rows
    ]


async def redeliver(sessions: async_sessionmaker[AsyncSession], clock: Clock, *, ref: str) -> str:
    """Send a delivery (by its id or its task's id) again now, with a fresh retry budget."""
    async with sessions.begin() as session:
        delivery = await repo.find_delivery(session, ref)
        if delivery is None:
            raise AdminError(f"no webhook delivery with id or task id {ref}")
        if not await repo.rearm(session, delivery.id, now=clock.now()):
            raise AdminError("an attempt of this delivery is in flight; try again shortly")
        return delivery.id


async def rotate_secret(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, *, email: str, grace: timedelta
) -> str:
    """A new signing secret for the account; the old one also signs for `grace`."""
    async with sessions.begin() as session:
        account = await accounts_repo.account_by_email(session, email)
        if account is None:
            raise AdminError(f"no account with email {email}")
        return await repo.rotate_signing_secret(session, account.id, grace=grace, now=clock.now())
