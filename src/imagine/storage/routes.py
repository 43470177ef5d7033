"""GET /files/<name>: outputs with long cache headers; 410 once expired."""

from __future__ import annotations

from fastapi import APIRouter, Response

from imagine.errors import Gone, NotFound
from imagine.http import openapi
from imagine.http.deps import ClockDep, SessionsDep, StoreDep
from imagine.storage import repository
from imagine.storage.store import valid_object_name

router = APIRouter(tags=["files"])


@router.get(
    "/files/{name}",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": "The image"},
        **openapi.FILES,
    },
)
async def get_file(name: str, sessions: SessionsDep, clock: ClockDep, store: StoreDep) -> Response:
    """Serve a stored output until it expires."""
    if not valid_object_name(name):
        raise NotFound("File not found")
    async with sessions() as session:
        output = await repository.get_output(session, name)
    if output is None:
        raise NotFound("File not found")
    now = clock.now()
    if output.expires_at <= now or output.deleted_at is not None:
        raise Gone("File expired")
    data = await store.get(name)
    if data is None:
        raise Gone("File expired")
    max_age = max(0, int((output.expires_at - now).total_seconds()))
    return Response(
        content=data,
        media_type=output.content_type,
        headers={
            "cache-control": f"public, max-age={max_age}, immutable",
            "x-content-type-options": "nosniff",
            "content-disposition": f'inline; filename="{name}"',
        },
    )
