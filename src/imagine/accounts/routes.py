"""GET /api/v1/account."""

from __future__ import annotations

from fastapi import APIRouter

from imagine.accounts import repository as accounts_repo
from imagine.accounts.schemas import AccountResponse
from imagine.errors import Unauthorized
from imagine.http import openapi
from imagine.http.deps import AccountDep, SessionsDep

router = APIRouter(prefix="/api/v1", tags=["account"])


@router.get("/account", response_model=AccountResponse, responses=openapi.UNAUTHORIZED)
async def account(account: AccountDep, sessions: SessionsDep) -> AccountResponse:
    """The caller's balance, plan and number of images made."""
    async with sessions() as session:
        found = await accounts_repo.overview(session, account.id)
    if found is None:
        raise Unauthorized()  # deleted since the key was resolved
    return AccountResponse(
        email=found.email, credits=found.credits, total_images=found.total_images, plan=found.plan
    )
