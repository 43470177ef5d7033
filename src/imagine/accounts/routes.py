"""GET /api/v1/account."""

from __future__ import annotations

from fastapi import APIRouter

from imagine.accounts import repository as accounts_repo
from imagine.accounts.schemas import AccountResponse
from imagine.http import openapi
from imagine.http.deps import AccountDep, SessionsDep

router = APIRouter(prefix="/api/v1", tags=["account"])


@router.get("/account", response_model=AccountResponse, responses=openapi.UNAUTHORIZED)
async def account(account: AccountDep, sessions: SessionsDep) -> AccountResponse:
    """The caller's balance, plan and number of images made."""
    async with sessions() as session:
        fresh = await accounts_repo.account_by_id(session, account.id)
        total = await accounts_repo.finished_task_count(session, account.id)
    current = fresh or account
    return AccountResponse(
        email=current.email, credits=current.credits, total_images=total, plan=current.plan
    )
