"""Reading an upload's body: multipart/form-data (field `file` or `image`) or a raw image.

The body is streamed against the input byte cap (IMAGINE_FETCH_MAX_BYTES, plus a little
room for multipart framing), so an oversized upload is refused with 413 as soon as it
passes the cap, never buffered whole. Multipart file data spools to a temporary file past
1 MiB (Starlette's parser), and is read back only once it is known to fit.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from imagine.errors import ImagineError, ValidationFailed
from imagine.http.disconnect import ClientGone

RAW_TYPES = ("image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif")
FILE_FIELDS = ("file", "image")
MULTIPART_ROOM = 64 * 1024  # boundaries, part headers and a few small text fields


class UnsupportedUpload(ImagineError):
    """415: the body is neither multipart/form-data nor a raw image."""

    status = 415

    def __init__(self) -> None:
        super().__init__(
            "body must be multipart/form-data with the image in field file (or image), or a"
            " raw image with Content-Type image/png, image/jpeg, image/webp or image/gif"
        )


def _too_large(max_bytes: int) -> ImagineError:
    return ImagineError(f"file must be at most {max_bytes} bytes", status=413)


def _declared_over(request: Request, cap: int) -> bool:
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > cap


async def _capped(request: Request, cap: int, max_bytes: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > cap:
                raise _too_large(max_bytes)
            yield chunk
    except ClientDisconnect as exc:
        raise ClientGone() from exc


async def read_upload(request: Request, max_bytes: int) -> bytes:
    """The uploaded image's bytes (at most `max_bytes`), or a contract error."""
    mime = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if mime == "multipart/form-data":
        return await _multipart(request, max_bytes)
    if mime not in RAW_TYPES:
        raise UnsupportedUpload()
    if _declared_over(request, max_bytes):
        raise _too_large(max_bytes)
    return b"".join([chunk async for chunk in _capped(request, max_bytes, max_bytes)])


async def _multipart(request: Request, max_bytes: int) -> bytes:
    cap = max_bytes + MULTIPART_ROOM
    if _declared_over(request, cap):
        raise _too_large(max_bytes)
    parser = MultiPartParser(
        request.headers,
        _capped(request, cap, max_bytes),
        max_files=1,
        max_fields=16,
        max_part_size=16 * 1024,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ValidationFailed(f"multipart body is malformed: {exc.message}") from exc
    try:
        part = next((form[name] for name in FILE_FIELDS if name in form), None)
        if part is None:
            raise ValidationFailed("file is required (a multipart file part named file)")
        if not isinstance(part, UploadFile):
            raise ValidationFailed("file must be a file part, not a text field")
        if part.size is not None and part.size > max_bytes:
            raise _too_large(max_bytes)
        data = await part.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise _too_large(max_bytes)
        return data
    finally:
        await form.close()
