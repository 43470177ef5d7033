"""POST /v1/images/edits and GET /v1/models, as OpenAI's SDKs call them.

The edit runs the native pipeline (same validation, accounts, credits, engines, storage; no
webhooks): the uploaded bytes go in as a data URI, so nothing is fetched over the network.
Errors are rendered in OpenAI's shape by imagine.http.errors (chosen by the /v1/ path).
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from imagine.errors import ImagineError, InternalError, NotFound
from imagine.http import openapi
from imagine.http.deps import (
    AccountDep,
    ClockDep,
    IdempotencyDep,
    ModelsDep,
    PipelineDep,
    SessionsDep,
    StoreDep,
)
from imagine.http.disconnect import unless_client_leaves
from imagine.http.idempotency import IDEMPOTENCY_KEY_DOC, idempotency_key, respond
from imagine.openai_compat.form import EditForm, Upload, openai_messages, read_form
from imagine.openai_compat.schemas import (
    ImageData,
    ImagesResponse,
    ImagesUsage,
    OpenAIModel,
    OpenAIModelList,
)
from imagine.tasks import repository as tasks_repo
from imagine.tasks.pipeline import EditPipeline

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

OWNER = "imagine"
MAX_FILES = 17  # OpenAI takes up to 16 images, plus a mask
MAX_FIELDS = 32


@router.post(
    "/images/edits",
    response_model=ImagesResponse,
    responses=openapi.OPENAI_EDITS,
    openapi_extra=openapi.OPENAI_EDITS_BODY,
)
async def images_edits(
    request: Request,
    account: AccountDep,
    pipeline: PipelineDep,
    idempotency: IdempotencyDep,
    sessions: SessionsDep,
    store: StoreDep,
    clock: ClockDep,
    idempotency_key_header: Annotated[
        str | None, Header(alias="Idempotency-Key", description=IDEMPOTENCY_KEY_DOC)
    ] = None,
) -> ImagesResponse | JSONResponse:
    """Edit an image (OpenAI's `images.edit`): multipart `image` (or `image[]`), `prompt`,
    `model`, `size`, `response_format`, `output_format`; answers OpenAI's ImagesResponse."""
    del idempotency_key_header  # documented here, read (and checked) by idempotency_key
    key = idempotency_key(request)
    form = await _read(request, pipeline)
    try:
        req = pipeline.validate(form.request)
    except ImagineError as exc:
        exc.messages = openai_messages(exc.messages)
        raise

    async def edit() -> ImagesResponse:
        try:
            done = await unless_client_leaves(request, lambda: pipeline.run(account, req))
        except ImagineError as exc:
            exc.messages = openai_messages(exc.messages)
            raise
        if form.response_format == "url":
            image = ImageData(url=done.image_url)
        else:
            image = ImageData(b64_json=await _b64(sessions, store, done.task_id))
        return ImagesResponse(
            created=int(clock.now().timestamp()),
            data=[image],
            output_format=req.output_format,
            usage=ImagesUsage(credits_used=done.credits_used),
            task_id=done.task_id,
            engine=done.engine,
            warnings=form.warnings + done.warnings,
            applied=done.applied,
        )

    if key is None:
        return await edit()
    return await respond(request, idempotency, account.id, key, form.fingerprint_fields, edit)


async def _read(request: Request, pipeline: EditPipeline) -> EditForm:
    """The multipart form, files read into memory (the body limit already capped them)."""
    fields: dict[str, list[str]] = {}
    uploads: list[Upload] = []
    async with request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS) as form:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                uploads.append(
                    Upload(
                        name=name,
                        filename=value.filename or "",
                        content_type=value.content_type or "",
                        data=await value.read(),
                    )
                )
            else:
                fields.setdefault(name, []).append(value)
    return read_form(fields, uploads, pipeline.catalog)


async def _b64(sessions: SessionsDep, store: StoreDep, task_id: str) -> str:
    """The stored output of a finished task, base64-encoded."""
    async with sessions() as session:
        task = await tasks_repo.get_task(session, task_id)
    data = await store.get(task.output_name) if task and task.output_name else None
    if data is None:
        raise InternalError(task_id)
    return base64.b64encode(data).decode("ascii")


@router.get("/models", response_model=OpenAIModelList, responses=openapi.OPENAI_AUTH)
async def list_models(_account: AccountDep, routes: ModelsDep) -> OpenAIModelList:
    """The catalog in OpenAI's list shape (`client.models.list()`)."""
    return OpenAIModelList(data=[_model(r.model.id, r.model.price, r.available) for r in routes])


@router.get("/models/{model_id}", response_model=OpenAIModel, responses=openapi.OPENAI_MODEL)
async def retrieve_model(model_id: str, _account: AccountDep, routes: ModelsDep) -> OpenAIModel:
    """One catalog model in OpenAI's shape (`client.models.retrieve(id)`)."""
    for route in routes:
        if route.model.id == model_id:
            return _model(route.model.id, route.model.price, route.available)
    raise NotFound(f"model {model_id} does not exist")


def _model(model_id: str, price: int, available: bool) -> OpenAIModel:
    return OpenAIModel(id=model_id, created=0, owned_by=OWNER, credits=price, available=available)
