"""POST /api/v1/uploads (store an input image) and GET /api/v1/uploads/{id} (its bytes)."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from imagine.errors import NotFound
from imagine.http import openapi
from imagine.http.deps import AccountDep
from imagine.http.upload_body import read_upload
from imagine.uploads.schemas import UploadResponse
from imagine.uploads.service import Uploads

router = APIRouter(prefix="/api/v1", tags=["uploads"])


async def _uploads(request: Request) -> Uploads:
    uploads: Uploads = request.app.state.edge.uploads
    return uploads


UploadsDep = Annotated[Uploads, Depends(_uploads)]


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadResponse,
    responses=openapi.UPLOADS,
    openapi_extra=openapi.UPLOAD_BODY,
)
async def upload(account: AccountDep, uploads: UploadsDep, request: Request) -> JSONResponse:
    """Store an input image; its `image_url` works as this account's /imagine input until
    `expires_at`."""
    await uploads.check_room(account.id)
    data = await read_upload(request, uploads.limits.max_bytes)
    stored = await uploads.accept(account.id, data)
    body = UploadResponse(
        upload_id=stored.id,
        image_url=uploads.url_of(stored.id),
        expires_at=stored.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        width=stored.width,
        height=stored.height,
        content_type=stored.content_type,
        bytes=stored.size,
    )
    return JSONResponse(body.model_dump(), status_code=201, headers={"location": body.image_url})


@router.get(
    "/uploads/{upload_id}",
    response_class=Response,
    responses={
        200: {
            "content": {t: {} for t in ("image/png", "image/jpeg", "image/webp", "image/gif")},
            "description": "The uploaded image, as it was uploaded",
        },
        **openapi.UPLOAD_GET,
    },
)
async def get_upload(upload_id: str, account: AccountDep, uploads: UploadsDep) -> Response:
    """The bytes of one of this account's unexpired uploads (another account's: 404)."""
    found = await uploads.own(account.id, upload_id.lower())
    if found is None:
        raise NotFound("Upload not found")
    stored, data = found
    return Response(
        content=data,
        media_type=stored.content_type,
        headers={"content-disposition": f'inline; filename="{stored.object_name}"'},
    )
