"""HTTP routes for /imagine, /fetch and /fetch-many; the work lives in pipeline.py."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.errors import NotFound, ValidationFailed
from imagine.http import openapi
from imagine.http.deps import AccountDep, PipelineDep, PublicUrlDep, SessionsDep
from imagine.http.disconnect import unless_client_leaves
from imagine.tasks import repository as tasks_repo
from imagine.tasks.schemas import (
    FetchManyRequest,
    FetchManyResponse,
    FetchRequest,
    ImagineRequest,
    ImagineResponse,
    TaskObject,
)
from imagine.tasks.views import task_object

router = APIRouter(prefix="/api/v1", tags=["tasks"])

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


PREFER = Header(
    description="`respond-async`: answer `202` with the task_id at once (after admission:"
    " validation, credits, limits) and finish in the background; poll `/api/v1/fetch`."
)


def wants_async(prefer: str | None) -> bool:
    """Whether a `Prefer` header (RFC 7240) asks for `respond-async`."""
    if not prefer:
        return False
    for preference in prefer.split(","):
        name = preference.split(";", 1)[0].split("=", 1)[0].strip().lower()
        if name == "respond-async":
            return True
    return False


@router.post("/imagine", response_model=ImagineResponse, responses=openapi.IMAGINE)
async def imagine(
    body: ImagineRequest,
    account: AccountDep,
    pipeline: PipelineDep,
    request: Request,
    prefer: Annotated[str | None, PREFER] = None,
) -> ImagineResponse | JSONResponse:
    """Edit an image from an English instruction; answers with the finished image (or, with
    `Prefer: respond-async`, `202` and a task to poll)."""
    req = pipeline.validate(body)
    if wants_async(prefer):
        task_id = await pipeline.start(account, req)
        return JSONResponse(
            {"task_id": task_id, "status": "pending"},
            status_code=202,
            headers={
                "preference-applied": "respond-async",
                "location": f"/api/v1/fetch?task_id={task_id}",
            },
        )
    if req.webhook_url:
        # The result also travels by webhook: finish even if the client stops waiting.
        done = await pipeline.run(account, req)
    else:
        done = await unless_client_leaves(request, lambda: pipeline.run(account, req))
    return ImagineResponse(
        task_id=done.task_id,
        status="finished",
        image_url=done.image_url,
        credits_used=done.credits_used,
        warnings=done.warnings,
        engine=done.engine,
        applied=done.applied,
    )


@router.post("/fetch", response_model=TaskObject, responses=openapi.FETCH)
async def fetch(
    body: FetchRequest, account: AccountDep, sessions: SessionsDep, public_url: PublicUrlDep
) -> TaskObject:
    """One task of the caller's account."""
    return await _one_task(body.task_id, account.id, sessions, public_url)


@router.get("/fetch", response_model=TaskObject, responses=openapi.FETCH)
async def fetch_by_query(
    account: AccountDep,
    sessions: SessionsDep,
    public_url: PublicUrlDep,
    task_id: Annotated[str | None, Query()] = None,
) -> TaskObject:
    """One task of the caller's account, by query (the `Location` of an async `202`)."""
    return await _one_task(task_id, account.id, sessions, public_url)


async def _one_task(
    task_id: str | None,
    account_id: str,
    sessions: async_sessionmaker[AsyncSession],
    public_url: str,
) -> TaskObject:
    if task_id is None or not task_id.strip():
        raise ValidationFailed("task_id is required")
    task_id = task_id.strip()
    if not _UUID.match(task_id):
        raise NotFound("Task not found")
    async with sessions() as session:
        task = await tasks_repo.get_task(session, task_id.lower())
    if task is None or task.account_id != account_id:
        raise NotFound("Task not found")
    return task_object(task, public_url)


@router.post("/fetch-many", response_model=FetchManyResponse, responses=openapi.FETCH_MANY)
async def fetch_many(
    body: FetchManyRequest, account: AccountDep, sessions: SessionsDep, public_url: PublicUrlDep
) -> FetchManyResponse:
    """2 to 20 tasks of the caller's account; unknown ids are left out."""
    if body.task_ids is None:
        raise ValidationFailed("task_ids is required")
    if not 2 <= len(body.task_ids) <= 20:
        raise ValidationFailed("task_ids must contain between 2 and 20 ids")
    ids = [t.strip().lower() for t in body.task_ids if _UUID.match(t.strip())]
    async with sessions() as session:
        tasks = await tasks_repo.tasks_of_account(session, account.id, ids)
    return FetchManyResponse(tasks=[task_object(t, public_url) for t in tasks])
