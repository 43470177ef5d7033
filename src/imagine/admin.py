"""Administrative operations behind the CLI (accounts, credits, keys), as plain async functions."""

from __future__ import annotations

from dataclasses import dataclass, field

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


async def revoke_keys(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, *, prefix: str
) -> int:
    """Revoke the keys whose shown prefix starts with `prefix`; returns how many."""
    if len(prefix) < 12:
        raise AdminError("give at least 12 characters of the key (e.g. japi_live_ab)")
    async with sessions.begin() as session:
        return await accounts_repo.revoke_keys_with_prefix(session, prefix, now=clock.now())


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
