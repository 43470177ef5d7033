"""HTTP routes for /imagine, /fetch and /fetch-many; the work lives in pipeline.py."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from fastapi import APIRouter, Request

from imagine import api_responses
from imagine.api_deps import AccountDep, ServicesDep
from imagine.errors import NotFound, ValidationFailed
from imagine.tasks import repository as tasks_repo
from imagine.tasks.pipeline import run_edit
from imagine.tasks.schemas import (
    FetchManyRequest,
    FetchManyResponse,
    FetchRequest,
    ImagineRequest,
    ImagineResponse,
    TaskObject,
)
from imagine.tasks.validation import validate_imagine
from imagine.tasks.views import task_object

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its (webhook-less) edit finished; nobody gets an answer."""


async def _until_disconnected(request: Request) -> None:
    # The body is already read, so the next ASGI message is the disconnect (if any).
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_client_leaves(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work`, cancelling it if the client goes away: an edit nobody can receive is not
    charged (the pipeline fails the task and releases its credits on cancellation)."""
    result: list[T] = []
    try:
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await _until_disconnected(request)
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            result.append(await work())
            tg.cancel_scope.cancel()
    except ExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    if not result:
        raise ClientGone
    return result[0]


router = APIRouter(prefix="/api/v1", tags=["tasks"])

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

@router.post("/imagine", response_model=ImagineResponse, responses=api_responses.IMAGINE)
async def imagine(
    body: ImagineRequest, account: AccountDep, services: ServicesDep, request: Request
) -> ImagineResponse:
    """Edit an image from an English instruction; answers with the finished image."""
    settings = services.settings
    req = validate_imagine(
        body,
        services.catalog,
        max_prompt_chars=settings.max_prompt_chars,
        max_data_uri=settings.fetch_max_bytes * 4 // 3 + 1024,
        policy=services.fetcher.policy,
    )
    if req.webhook_url:
        # The result also travels by webhook: finish even if the client stops waiting.
        done = await run_edit(services, account, req)
    else:
        done = await _unless_client_leaves(request, lambda: run_edit(services, account, req))
    return ImagineResponse(
        task_id=done.task_id,
        status="finished",
        image_url=done.image_url,
        credits_used=done.credits_used,
        warnings=done.warnings,
    )


@router.post(
    "/fetch",
    response_model=TaskObject,
    responses=api_responses.FETCH,
)
async def fetch(body: FetchRequest, account: AccountDep, services: ServicesDep) -> TaskObject:
    """One task of the caller's account."""
    if body.task_id is None or not body.task_id.strip():
        raise ValidationFailed("task_id is required")
    task_id = body.task_id.strip()
    if not _UUID.match(task_id):
        raise NotFound("Task not found")
    async with services.sessions() as session:
        task = await tasks_repo.get_task(session, task_id.lower())
    if task is None or task.account_id != account.id:
        raise NotFound("Task not found")
    return task_object(task, services.settings.resolved_public_url())


@router.post("/fetch-many", response_model=FetchManyResponse, responses=api_responses.JSON_BODY)
async def fetch_many(
    body: FetchManyRequest, account: AccountDep, services: ServicesDep
) -> FetchManyResponse:
    """2 to 20 tasks of the caller's account; unknown ids are left out."""
    if body.task_ids is None:
        raise ValidationFailed("task_ids is required")
    if not 2 <= len(body.task_ids) <= 20:
        raise ValidationFailed("task_ids must contain between 2 and 20 ids")
    ids = [t.strip().lower() for t in body.task_ids if _UUID.match(t.strip())]
    async with services.sessions() as session:
        tasks = await tasks_repo.tasks_of_account(session, account.id, ids)
    public = services.settings.resolved_public_url()
    return FetchManyResponse(tasks=[task_object(t, public) for t in tasks])
