"""Administrative operations behind the CLI (accounts, credits, keys), as plain async functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.accounts import repository as accounts_repo
from imagine.accounts.emails import MAX_KEY_CHARS, email_key
from imagine.accounts.plans import PLAN_CONCURRENCY
from imagine.clock import Clock


class AdminError(Exception):
    """A refused admin operation, with a message for the operator."""


@dataclass(frozen=True)
class AccountSummary:
    """What `accounts show` prints."""

    id: str
    email: str
    plan: str
    credits: int
    ledger_sum: int
    signing_secret: str = field(repr=False)


async def create_account(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    email: str,
    credits: int,
    plan: str,
) -> str:
    """Create an account; returns its first API key."""
    if plan not in PLAN_CONCURRENCY:
        raise AdminError(f"plan must be one of: {', '.join(PLAN_CONCURRENCY)}")
    if credits < 0:
        raise AdminError("credits must not be negative")
    if "@" not in email or len(email) > 320 or len(email_key(email)) > MAX_KEY_CHARS:
        raise AdminError("email must be an email address")
    try:
        async with sessions.begin() as session:
            existing = await accounts_repo.account_by_email(session, email)
            if existing is not None:
                raise AdminError(_duplicate(email, existing.email))
            created = await accounts_repo.create_account(
                session, email=email, plan=plan, credits=credits, now=clock.now()
            )
    except IntegrityError as exc:  # created concurrently by another admin command
        raise AdminError(_duplicate(email, None)) from exc
    return created.api_key


def _duplicate(email: str, existing: str | None) -> str:
    if existing is None or existing == email:
        return f"an account with email {email!r} already exists"
    return (
        f"an account with email {existing!r} already exists; {email!r} is the same address"
        " once case and Unicode forms are folded"
    )


async def ensure_bootstrap_account(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, *, email: str, credits: int
) -> str | None:
    """On a fresh database, create the first account; returns its key, or None if not fresh."""
    async with sessions.begin() as session:
        if await accounts_repo.count_accounts(session) > 0:
            return None
        created = await accounts_repo.create_account(
            session, email=email, plan="basic", credits=credits, now=clock.now()
        )
    return created.api_key


async def key_hint_email(
    sessions: async_sessionmaker[AsyncSession], *, bootstrap_email: str
) -> str | None:
    """The account a later start points at for a new key: the bootstrap one if it exists,
    else the oldest; None on a database without accounts."""
    from sqlalchemy import select

    from imagine.db.schema import Account

    async with sessions() as session:
        found = await accounts_repo.account_by_email(session, bootstrap_email)
        if found is not None:
            return found.email
        oldest = (
            await session.execute(select(Account.email).order_by(Account.created_at).limit(1))
        ).scalar_one_or_none()
        return oldest


async def add_credits(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, *, email: str, amount: int
) -> int:
    """Grant (or, negative, remove) credits; returns the new balance."""
    async with sessions.begin() as session:
        account = await accounts_repo.account_by_email(session, email)
        if account is None:
            raise AdminError(f"no account with email {email}")
        try:
            return await accounts_repo.grant(
                session, account.id, amount, now=clock.now(), note="admin"
            )
        except ValueError as exc:
            raise AdminError(str(exc)) from exc


async def new_key(sessions: async_sessionmaker[AsyncSession], clock: Clock, *, email: str) -> str:
    """Issue another API key for an account."""
    async with sessions.begin() as session:
        account = await accounts_repo.account_by_email(session, email)
        if account is None:
            raise AdminError(f"no account with email {email}")
        return await accounts_repo.create_key(session, account.id, now=clock.now())


@dataclass(frozen=True)
class KeyInfo:
    """One API key as admins see it (never the key itself)."""

    id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


async def list_keys(sessions: async_sessionmaker[AsyncSession], *, email: str) -> list[KeyInfo]:
    """An account's keys: id, shown prefix, created, revoked."""
    async with sessions() as session:
        account = await accounts_repo.account_by_email(session, email)
        if account is None:
            raise AdminError(f"no account with email {email}")
        rows = await accounts_repo.keys_of_account(session, account.id)
    return [KeyInfo(k.id, k.prefix, k.created_at, k.revoked_at) for k in rows]


async def revoke_key(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, *, selector: str
) -> KeyInfo:
    """Revoke exactly one key: by key id (`imagine keys list`), the whole key, or a prefix
    that matches one active key only. A prefix shared by several keys revokes nothing: it
    might belong to another customer."""
    if selector.startswith("japi_") and len(selector) < 12:
        raise AdminError("give at least 12 characters of the key (e.g. japi_live_ab)")
    async with sessions.begin() as session:
        found = await accounts_repo.active_keys_matching(session, selector)
        if not found:
            raise AdminError("no active key matches that id, key or prefix")
        if len(found) > 1:
            owners = len({k.account_id for k in found})
            raise AdminError(
                f"that prefix matches {len(found)} active keys of {owners} account(s); nothing"
                " was revoked. Give the key id (imagine keys list --email …) or the whole key"
            )
        key = found[0]
        await accounts_repo.revoke_key(session, key.id, now=clock.now())
    return KeyInfo(key.id, key.prefix, key.created_at, clock.now())


async def show_account(sessions: async_sessionmaker[AsyncSession], *, email: str) -> AccountSummary:
    """An account's balance next to its ledger sum."""
    async with sessions() as session:
        account = await accounts_repo.account_by_email(session, email)
        if account is None:
            raise AdminError(f"no account with email {email}")
        total = await accounts_repo.ledger_sum(session, account.id)
    return AccountSummary(
        account.id, account.email, account.plan, account.credits, total, account.signing_secret
    )
