"""The HTTP side of Idempotency-Key: the header's rules, the canonical request's
fingerprint, and turning a route's result or error into a stored, replayable response."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from imagine.errors import ImagineError, ValidationFailed
from imagine.http.errors import error_body, error_headers
from imagine.idempotency.guard import IdempotencyGuard, IdempotentRequest, Outcome

HEADER = "idempotency-key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_CHARS = 255
IDEMPOTENCY_KEY_DOC = (
    "1–255 printable ASCII characters, unique per request you mean (e.g. a UUID): a retry with"
    " the same key and the same request replays the first answer (`Idempotent-Replayed: true`)"
    " for 24 h instead of editing and charging again; the same key with another request is 422."
)


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, None without one; 400 unless 1–255 printable ASCII."""
    values = request.headers.getlist(HEADER)
    if not values:
        return None
    key = values[0]
    if len(values) > 1 or not 1 <= len(key) <= MAX_KEY_CHARS:
        raise ValidationFailed(
            f"Idempotency-Key must be one header of 1 to {MAX_KEY_CHARS} characters"
        )
    if not all(" " <= c <= "~" for c in key):
        raise ValidationFailed("Idempotency-Key must be printable ASCII")
    return key


def fingerprint(method: str, path: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical request: method, path and its normalised fields (files
    given as their own SHA-256)."""
    canonical = json.dumps(
        {"method": method.upper(), "path": path, "fields": fields},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def respond(
    request: Request,
    guard: IdempotencyGuard,
    account_id: str,
    key: str,
    fields: Mapping[str, Any],
    work: Callable[[], Awaitable[Any]],
    *,
    status: int = 200,
) -> JSONResponse:
    """Run `work` at most once for (account, key): its result (or error, rendered for this
    path) is stored and replayed, with `Idempotent-Replayed: true`, to later duplicates."""
    path = request.url.path

    async def outcome() -> Outcome:
        try:
            result = await work()
        except ImagineError as exc:
            return Outcome(exc.status, error_body(exc, path), error_headers(exc))
        return Outcome(status, jsonable_encoder(result))

    req = IdempotentRequest(
        account_id=account_id,
        key=key,
        fingerprint=fingerprint(request.method, path, fields),
        request=f"{request.method} {path}",
    )
    done, replayed = await guard.run(req, outcome)
    headers = dict(done.headers)
    if replayed:
        headers[REPLAYED] = "true"
    return JSONResponse(done.body, status_code=done.status, headers=headers)
