"""All SQL about accounts, keys and the ledger. Callers own the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imagine.accounts import keys
from imagine.accounts.emails import email_key
from imagine.db.schema import Account, ApiKey, LedgerEntry, Task

# The tables behind the hot statements of every edit (reserve, release, ledger lines), as
# Core: SQLAlchemy's ORM paths (unit-of-work flush, ORM-enabled UPDATE) cost several times
# the statement itself (bench/db_statements.py).
_ACCOUNTS = cast(Table, Account.__table__)
_LEDGER = cast(Table, LedgerEntry.__table__)


@dataclass(frozen=True)
class CreatedAccount:
    """A new account and its one-time-visible API key."""

    account: Account
    api_key: str = field(repr=False)


async def create_account(
    session: AsyncSession, *, email: str, plan: str, credits: int, now: datetime
) -> CreatedAccount:
    """Insert an account with an initial grant and a first API key.

    Raises IntegrityError when an account of the same email identity exists (see emails.py).
    """
    account = Account(
        id=str(uuid.uuid4()),
        email=email,
        email_key=email_key(email),
        plan=plan,
        credits=0,
        created_at=now,
    )
    session.add(account)
    await session.flush()
    if credits:
        await grant(session, account.id, credits, now=now, note="initial credits")
    key = await create_key(session, account.id, now=now)
    await session.refresh(account)
    return CreatedAccount(account, key)


async def create_key(session: AsyncSession, account_id: str, *, now: datetime) -> str:
    """Create an API key for the account; returns the raw key (shown once)."""
    raw = keys.new_key()
    session.add(
        ApiKey(
            id=str(uuid.uuid4()),
            account_id=account_id,
            prefix=keys.display_prefix(raw),
            key_hash=keys.hash_key(raw),
            created_at=now,
        )
    )
    await session.flush()
    return raw


async def account_for_key(session: AsyncSession, raw_key: str) -> Account | None:
    """The account owning an unrevoked key, looked up by hash (no timing leak on the key)."""
    digest = keys.hash_key(raw_key)
    row = (
        await session.execute(
            select(ApiKey, Account)
            .join(Account, Account.id == ApiKey.account_id)
            .where(ApiKey.key_hash == digest)
        )
    ).first()
    if row is None:
        return None
    api_key, account = row
    if api_key.revoked_at is not None or not keys.hashes_match(api_key.key_hash, digest):
        return None
    return account


async def account_by_email(session: AsyncSession, email: str) -> Account | None:
    """Find the account of this email identity: an exact match on the normalised key."""
    return (
        await session.execute(select(Account).where(Account.email_key == email_key(email)))
    ).scalar_one_or_none()


async def account_by_id(session: AsyncSession, account_id: str) -> Account | None:
    """Find an account by id."""
    return await session.get(Account, account_id)


async def count_accounts(session: AsyncSession) -> int:
    """How many accounts exist."""
    return int((await session.execute(select(func.count(Account.id)))).scalar_one())


async def active_keys_matching(session: AsyncSession, selector: str) -> list[ApiKey]:
    """Unrevoked keys that `selector` names: a whole key (by hash), a key id, or the start of
    a key's shown part. Several rows mean the selector is ambiguous."""
    if len(selector) > len(keys.KEY_PREFIX) + 30:  # a whole key
        condition = ApiKey.key_hash == keys.hash_key(selector)
    elif selector.startswith(keys.KEY_PREFIX):
        condition = ApiKey.prefix.startswith(selector[: keys.DISPLAY_CHARS], autoescape=True)
    else:
        condition = ApiKey.id == selector
    rows = await session.execute(
        select(ApiKey).where(condition, ApiKey.revoked_at.is_(None)).limit(50)
    )
    return list(rows.scalars())


async def revoke_key(session: AsyncSession, key_id: str, *, now: datetime) -> bool:
    """Revoke one key by id; False if it was already revoked or does not exist."""
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def keys_of_account(session: AsyncSession, account_id: str) -> list[ApiKey]:
    """An account's keys, newest first (revoked ones included)."""
    rows = await session.execute(
        select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.created_at.desc())
    )
    return list(rows.scalars())


@dataclass(frozen=True)
class Overview:
    """What GET /api/v1/account shows."""

    email: str
    credits: int
    plan: str
    total_images: int


async def overview(session: AsyncSession, account_id: str) -> Overview | None:
    """Balance, plan and images made, in one statement (a hot read)."""
    images = (
        select(func.count(Task.id))
        .where(Task.account_id == account_id, Task.status == "finished")
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(Account.email, Account.credits, Account.plan, images).where(
                Account.id == account_id
            )
        )
    ).first()
    if row is None:
        return None
    return Overview(email=row[0], credits=row[1], plan=row[2], total_images=int(row[3]))


async def finished_task_count(session: AsyncSession, account_id: str) -> int:
    """Images the account has made (finished tasks)."""
    return int(
        (
            await session.execute(
                select(func.count(Task.id)).where(
                    Task.account_id == account_id, Task.status == "finished"
                )
            )
        ).scalar_one()
    )


async def _balance(session: AsyncSession, account_id: str) -> int:
    return int(
        (
            await session.execute(select(Account.credits).where(Account.id == account_id))
        ).scalar_one()
    )


async def _record(
    session: AsyncSession,
    account_id: str,
    kind: str,
    amount: int,
    *,
    now: datetime,
    task_id: str | None = None,
    note: str | None = None,
    balance_after: int | None = None,
) -> None:
    """One ledger line; `balance_after` when the caller's UPDATE … RETURNING has it."""
    await session.flush()  # a Core statement does not flush pending objects (FK order)
    if balance_after is None:
        balance_after = await _balance(session, account_id)
    # A Core INSERT: no ORM object to track and flush (a third of an edit's database CPU).
    await session.execute(
        insert(_LEDGER).values(
            account_id=account_id,
            task_id=task_id,
            kind=kind,
            amount=amount,
            balance_after=balance_after,
            note=note,
            created_at=now,
        )
    )


async def grant(
    session: AsyncSession, account_id: str, amount: int, *, now: datetime, note: str | None = None
) -> int:
    """Add (or, negative, remove down to zero at most) credits; returns the new balance."""
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id, Account.credits + amount >= 0)
        .values(credits=Account.credits + amount)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ValueError("the balance cannot go below zero")
    await _record(session, account_id, "grant", amount, now=now, note=note)
    return await _balance(session, account_id)


async def reserve(
    session: AsyncSession, account_id: str, amount: int, *, task_id: str, now: datetime
) -> bool:
    """Take `amount` from the balance if it is there; one atomic conditional UPDATE."""
    balance = (
        await session.execute(
            update(_ACCOUNTS)
            .where(_ACCOUNTS.c.id == account_id, _ACCOUNTS.c.credits >= amount)
            .values(credits=_ACCOUNTS.c.credits - amount)
            .returning(_ACCOUNTS.c.credits)
        )
    ).scalar_one_or_none()
    if balance is None:
        return False
    await _record(
        session, account_id, "reserve", -amount, now=now, task_id=task_id, balance_after=balance
    )
    return True


async def release(
    session: AsyncSession, account_id: str, amount: int, *, task_id: str, now: datetime
) -> None:
    """Give a reservation back."""
    balance = (
        await session.execute(
            update(_ACCOUNTS)
            .where(_ACCOUNTS.c.id == account_id)
            .values(credits=_ACCOUNTS.c.credits + amount)
            .returning(_ACCOUNTS.c.credits)
        )
    ).scalar_one()
    await _record(
        session, account_id, "release", amount, now=now, task_id=task_id, balance_after=balance
    )


async def commit_charge(
    session: AsyncSession, account_id: str, amount: int, *, task_id: str, now: datetime
) -> None:
    """Make a reservation final: the balance was already reduced, record the charge."""
    await _record(
        session, account_id, "commit", 0, now=now, task_id=task_id, note=f"charged {amount}"
    )


async def ledger_sum(session: AsyncSession, account_id: str) -> int:
    """Sum of every ledger change; always equals the account's balance."""
    return int(
        (
            await session.execute(
                select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                    LedgerEntry.account_id == account_id
                )
            )
        ).scalar_one()
    )
