"""GET /api/v1/account and GET /api/v1/models."""

from __future__ import annotations

from fastapi import APIRouter

from imagine import api_responses
from imagine.accounts import repository as accounts_repo
from imagine.api_deps import AccountDep, ServicesDep
from imagine.tasks.schemas import AccountResponse, ModelInfo, ModelsResponse

router = APIRouter(prefix="/api/v1", tags=["account"])


@router.get("/account", response_model=AccountResponse, responses=api_responses.UNAUTHORIZED)
async def account(account: AccountDep, services: ServicesDep) -> AccountResponse:
    """The caller's balance, plan and number of images made."""
    async with services.sessions() as session:
        fresh = await accounts_repo.account_by_id(session, account.id)
        total = await accounts_repo.finished_task_count(session, account.id)
    current = fresh or account
    return AccountResponse(
        email=current.email, credits=current.credits, total_images=total, plan=current.plan
    )


@router.get("/models", response_model=ModelsResponse, responses=api_responses.UNAUTHORIZED)
async def models(_account: AccountDep, services: ServicesDep) -> ModelsResponse:
    """The catalog with prices and availability (extension)."""
    return ModelsResponse(
        models=[
            ModelInfo(
                id=route.model.id,
                kind=route.model.kind,
                credits=route.model.price,
                requires_image=route.model.requires_image,
                available=route.available,
                engines=route.engine_names,
                description=route.model.description,
            )
            for route in services.routes.values()
        ]
    )
