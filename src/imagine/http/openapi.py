"""The documented error responses of every route, so the OpenAPI document tells the truth.

The fuzz test (tests/test_openapi_fuzz.py) checks every answer against these. The error
shape is the HTTP edge's, so its schema lives here too.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict


class ErrorItem(BaseModel):
    """One problem."""

    msg: str


class ErrorResponse(BaseModel):
    """The contract's error shape."""

    errors: list[ErrorItem]
    task_id: str | None = None


class EmptyResponse(BaseModel):
    """`{}`: the body of a 401."""

    model_config = ConfigDict(extra="forbid")


class CrashResponse(BaseModel):
    """`{}` or `{"task_id": …}`: the body of a 500 (a bug)."""

    model_config = ConfigDict(extra="forbid")

    task_id: str | None = None


Responses = dict[int | str, dict[str, Any]]


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


UNAUTHORIZED: Responses = {
    401: {"model": EmptyResponse, "description": "Missing, unknown or revoked key (body {})"},
    500: {"model": CrashResponse, "description": "A bug (body {}, with task_id when admitted)"},
}
JSON_BODY: Responses = {
    **UNAUTHORIZED,
    400: _err("Validation error: one msg per problem, naming the field"),
    413: _err("Request body larger than IMAGINE_MAX_BODY_BYTES"),
}
IMAGINE: Responses = {
    **JSON_BODY,
    400: _err("Validation error, or an input image that was refused (then with task_id)"),
    402: _err("Insufficient credits"),
    422: _err("Content policy violation (with task_id)"),
    429: _err("Concurrency limit of the plan is full"),
    502: _err("Upstream failure (with task_id)"),
    503: _err("Model unavailable"),
    504: _err("Upstream too slow (with task_id)"),
}
FETCH: Responses = {**JSON_BODY, 404: _err("Unknown task (or another account's)")}
FILES: Responses = {
    404: _err("Unknown file"),
    410: _err("Expired; the bytes are deleted"),
}


def install_openapi(app: FastAPI) -> None:
    """Serve an OpenAPI document without FastAPI's default 422: our validation errors are 400."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    responses = operation.get("responses", {})
                    if responses.get("422", {}).get("description") == "Validation Error":
                        del responses["422"]
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
