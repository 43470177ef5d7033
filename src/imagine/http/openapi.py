"""The OpenAPI document: documented responses of every route, so it tells the truth.

The fuzz test (tests/test_openapi_fuzz.py) checks every answer against these. The error
shape is the HTTP edge's, so its schema lives here too. `install_openapi` also states what
the request models leave to the pipeline's validation (the catalog's model ids, the aspect
ratios, the output formats, the required fields), and documents the webhook payload under
OpenAPI 3.1 `webhooks`. Request bodies stay lenient in pydantic on purpose: the pipeline
answers every problem with the contract's own 400 messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict

from imagine.catalog import ASPECT_SIZES, AUTO_RATIO
from imagine.tasks.schemas import TaskObject


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

TASK_ID = "0b5e7c1e-4a3f-4d0e-9b7a-6f2d8c1a9e54"
FINISHED_TASK: dict[str, Any] = {
    "task_id": TASK_ID,
    "task_type": "edit",
    "model": "flux-kontext-max",
    "status": "finished",
    "percentage": "100",
    "image_url": "https://imagine.example.com/files/" + TASK_ID + ".png",
    "error": None,
    "engine": "offline",
    "warnings": ["served by the offline engine: classical image processing, not FLUX"],
    "applied": ["black and white"],
}
FAILED_TASK: dict[str, Any] = {
    **FINISHED_TASK,
    "task_id": "5d1c9a7e-2b4f-4e8a-8c3d-1f6e0a2b7c90",
    "status": "failed",
    "percentage": "0",
    "image_url": None,
    "error": "Upstream failure",
    "engine": None,
    "warnings": [],
    "applied": [],
}
RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "schema": {"type": "integer", "minimum": 0},
}


def _json_example(example: Any) -> dict[str, Any]:
    return {"content": {"application/json": {"example": example}}}


def _err(description: str, *msgs: str, task_id: bool = False, **extra: Any) -> dict[str, Any]:
    example: dict[str, Any] = {"errors": [{"msg": m} for m in msgs]}
    if task_id:
        example["task_id"] = TASK_ID
    return {"model": ErrorResponse, "description": description, **_json_example(example), **extra}


UNAUTHORIZED: Responses = {
    401: {
        "model": EmptyResponse,
        "description": "Missing, unknown or revoked key (body {})",
        **_json_example({}),
    },
    500: {
        "model": CrashResponse,
        "description": "A bug (body {}, with task_id when admitted)",
        **_json_example({"task_id": TASK_ID}),
    },
    503: _err(
        "Service busy (database connections exhausted); retry after Retry-After seconds",
        "Service busy, retry shortly",
        headers={"Retry-After": {**RETRY_AFTER, "required": True}},
    ),
}
JSON_BODY: Responses = {
    **UNAUTHORIZED,
    400: _err("Validation error: one msg per problem, naming the field", "task_id is required"),
    413: _err(
        "Request body larger than IMAGINE_MAX_BODY_BYTES",
        "request body must be at most 31457280 bytes",
    ),
    429: _err(
        "Too many request bodies of this key being received at once",
        "Rate limit exceeded",
        headers={"Retry-After": {**RETRY_AFTER, "required": True}},
    ),
}
IMAGINE: Responses = {
    **JSON_BODY,
    200: {
        "description": "The finished edit (or, with `Idempotent-Replayed: true`, the stored"
        " answer of the first request with the same Idempotency-Key)",
        **_json_example(
            {
                "task_id": TASK_ID,
                "status": "finished",
                "image_url": FINISHED_TASK["image_url"],
                "credits_used": 8,
                "warnings": FINISHED_TASK["warnings"],
                "engine": "offline",
                "applied": FINISHED_TASK["applied"],
            }
        ),
    },
    400: _err(
        "Validation error, or an input image that was refused (then with task_id)",
        "prompt is required",
        "aspect_ratio must be one of: " + " ".join(ASPECT_SIZES) + " auto",
    ),
    202: {
        "description": "With `Prefer: respond-async`: admitted, finishing in the background;"
        " poll the `Location` (GET /api/v1/fetch?task_id=…) or POST /api/v1/fetch",
        "headers": {
            "Preference-Applied": {
                "description": "respond-async",
                "schema": {"type": "string", "enum": ["respond-async"]},
                "required": True,
            },
            "Location": {
                "description": "/api/v1/fetch?task_id=<task_id>",
                "schema": {"type": "string"},
                "required": True,
            },
        },
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "task_id": {"type": "string"},
                        "status": {"type": "string", "enum": ["pending"]},
                    },
                    "required": ["task_id", "status"],
                },
                "example": {"task_id": TASK_ID, "status": "pending"},
            }
        },
    },
    402: _err("Insufficient credits", "Insufficient credits"),
    409: _err(
        "The first request with this Idempotency-Key is still running; retry shortly",
        "A request with this Idempotency-Key is still in progress; retry shortly",
        headers={"Retry-After": {**RETRY_AFTER, "required": True}},
    ),
    422: _err(
        "Content policy violation (with task_id), or an Idempotency-Key already used with"
        " a different request",
        "Content policy violation",
        task_id=True,
    ),
    429: _err(
        "Concurrency limit of the plan is full (or too many bodies being received)",
        "Rate limit exceeded",
        headers={"Retry-After": {**RETRY_AFTER, "required": True}},
    ),
    502: _err("Upstream failure (with task_id)", "Upstream failure", task_id=True),
    503: _err(
        "Model unavailable, or service busy (then with Retry-After; also when this server"
        " runs IMAGINE_MAX_BACKGROUND_EDITS async edits already)",
        "model flux-kontext-max is not available on this server",
        headers={"Retry-After": RETRY_AFTER},
    ),
    504: _err("Upstream too slow (with task_id)", "Upstream timeout", task_id=True),
}
FETCH: Responses = {
    **JSON_BODY,
    200: {"description": "The task", **_json_example(FINISHED_TASK)},
    404: _err("Unknown task (or another account's)", "Task not found"),
}
FETCH_MANY: Responses = {
    **JSON_BODY,
    200: {
        "description": "The tasks found, in no particular order",
        **_json_example({"tasks": [FINISHED_TASK, FAILED_TASK]}),
    },
}
PROVIDERS: Responses = {
    **UNAUTHORIZED,
    404: _err("IMAGINE_METRICS_TOKEN is not set: the route does not exist", "Not found"),
}
FILES: Responses = {
    404: _err("Unknown file", "File not found"),
    410: _err("Expired; the bytes are deleted", "File expired"),
}

UPLOAD_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
UPLOADS: Responses = {
    **JSON_BODY,
    201: {
        "description": "Stored; `image_url` is this account's /imagine input until `expires_at`",
        **_json_example(
            {
                "upload_id": UPLOAD_ID,
                "image_url": "https://imagine.example.com/api/v1/uploads/" + UPLOAD_ID,
                "expires_at": "2026-12-01T18:00:00Z",
                "width": 640,
                "height": 480,
                "content_type": "image/png",
                "bytes": 183424,
            }
        ),
    },
    400: _err(
        "No file, a malformed multipart body, or an image that was refused (not a supported"
        " format, corrupt, too many pixels)",
        "file is not a supported image (JPEG, PNG, WebP or GIF expected; this is a PDF document)",
    ),
    413: _err(
        "The image is larger than IMAGINE_FETCH_MAX_BYTES (or the body than"
        " IMAGINE_MAX_BODY_BYTES)",
        "file must be at most 20971520 bytes",
    ),
    415: _err(
        "Neither multipart/form-data nor a raw image/png, image/jpeg, image/webp or image/gif body",
        "body must be multipart/form-data with the image in field file (or image), or a raw"
        " image with Content-Type image/png, image/jpeg, image/webp or image/gif",
    ),
    429: _err(
        "The account holds IMAGINE_MAX_LIVE_UPLOADS unexpired uploads, or too many bodies of"
        " this key are being received at once",
        "Too many uploads: at most 100 unexpired uploads per account; wait for older ones to"
        " expire",
        headers={"Retry-After": {**RETRY_AFTER, "required": True}},
    ),
}
UPLOAD_GET: Responses = {
    **UNAUTHORIZED,
    404: _err("Unknown, expired or another account's upload", "Upload not found"),
}
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The image (the field may also be named `image`)",
                        }
                    },
                    "required": ["file"],
                }
            },
            **{
                mime: {"schema": {"type": "string", "format": "binary"}}
                for mime in ("image/png", "image/jpeg", "image/webp", "image/gif")
            },
        },
    }
}


class OpenAIErrorDetail(BaseModel):
    """OpenAI's error object (with our task_id when the task was admitted)."""

    message: str
    type: str
    param: str | None
    code: str | None
    task_id: str | None = None


class OpenAIError(BaseModel):
    """Every error under /v1/ (OpenAI's shape, so its SDKs raise their typed errors)."""

    error: OpenAIErrorDetail


def _oai(
    description: str, message: str, kind: str, code: str | None = None, **extra: Any
) -> dict[str, Any]:
    example = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return {"model": OpenAIError, "description": description, **_json_example(example), **extra}


_RETRY = {"Retry-After": {**RETRY_AFTER, "required": True}}
OPENAI_AUTH: Responses = {
    401: _oai(
        "Missing, unknown or revoked key",
        "Invalid or missing API key (send Authorization: Bearer <key>)",
        "invalid_request_error",
        "invalid_api_key",
    ),
    500: _oai("A bug", "Internal error", "server_error"),
    503: _oai(
        "Service busy, or model unavailable",
        "Service busy, retry shortly",
        "server_error",
        headers={"Retry-After": RETRY_AFTER},
    ),
}
OPENAI_MODEL: Responses = {
    **OPENAI_AUTH,
    404: _oai(
        "Unknown model", "model dall-e-2 does not exist", "invalid_request_error", "not_found"
    ),
}
OPENAI_EDITS: Responses = {
    **OPENAI_AUTH,
    200: {
        "description": "OpenAI's ImagesResponse (one image), plus the task's fields",
        **_json_example(
            {
                "created": 1767225600,
                "data": [{"url": FINISHED_TASK["image_url"], "b64_json": None}],
                "output_format": "png",
                "usage": {
                    "input_tokens": 0,
                    "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                    "output_tokens": 0,
                    "total_tokens": 0,
                    "credits_used": 8,
                },
                "task_id": TASK_ID,
                "engine": "offline",
                "warnings": FINISHED_TASK["warnings"],
                "applied": FINISHED_TASK["applied"],
            }
        ),
    },
    400: _oai(
        "Validation error (param names the field), or an image that could not be used",
        "size must be auto or WIDTHxHEIGHT, e.g. 1024x1024, 1536x1024 or 1024x1536",
        "invalid_request_error",
    ),
    402: _oai(
        "Insufficient credits", "Insufficient credits", "insufficient_quota", "insufficient_credits"
    ),
    409: _oai(
        "The first request with this Idempotency-Key is still running",
        "A request with this Idempotency-Key is still in progress; retry shortly",
        "invalid_request_error",
        "conflict",
        headers=_RETRY,
    ),
    413: _oai(
        "Request body larger than IMAGINE_MAX_BODY_BYTES",
        "request body must be at most 31457280 bytes",
        "invalid_request_error",
    ),
    422: _oai(
        "Content policy violation, or an Idempotency-Key used with a different request",
        "Content policy violation",
        "invalid_request_error",
    ),
    429: _oai(
        "Concurrency limit of the plan is full",
        "Rate limit exceeded",
        "requests",
        "rate_limit_exceeded",
        headers=_RETRY,
    ),
    502: _oai("Upstream failure", "Upstream failure", "server_error"),
    504: _oai("Upstream too slow", "Upstream timeout", "server_error"),
}
_FILE = {"type": "string", "format": "binary"}
OPENAI_EDITS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    # `image` (one file) or `image[]` (several, as the SDK sends a list) is
                    # required too: one of two names, which a 400 states when both lack.
                    "required": ["prompt"],
                    "properties": {
                        "image": {**_FILE, "description": "The input image (or use image[])"},
                        "image[]": {
                            "type": "array",
                            "items": _FILE,
                            "description": "Several images (the first is used)",
                        },
                        # Multipart values are all text: free-text fields carry no `type`, so
                        # a "number" sent for them is (rightly) just text.
                        "prompt": {"minLength": 1, "description": "The edit instruction"},
                        "model": {
                            "type": "string",
                            "description": "A catalog id (GET /v1/models); default"
                            " flux-kontext-max",
                        },
                        "n": {"type": "integer", "enum": [1]},
                        "size": {
                            "type": "string",
                            "description": "auto (the input's shape, default) or WIDTHxHEIGHT"
                            " (the nearest of the contract's aspect ratios)",
                            "examples": ["auto", "1024x1024", "1536x1024", "1024x1536"],
                        },
                        "response_format": {"type": "string", "enum": ["url", "b64_json"]},
                        "output_format": {"type": "string", "enum": ["png", "jpeg"]},
                        "seed": {"type": "integer", "minimum": 0},
                        "quality": {"description": "Accepted, ignored"},
                        "background": {"description": "Accepted, ignored"},
                        "user": {"description": "Accepted, ignored"},
                    },
                }
            }
        },
    }
}

WEBHOOK_NAME = "task-ended"
WEBHOOK_EXAMPLES = {"finished": {"value": FINISHED_TASK}, "failed": {"value": FAILED_TASK}}


def _declare_webhooks(app: FastAPI) -> None:
    """The POST imagine sends to a request's `webhook_url` (documentation only, not served)."""

    @app.webhooks.post(
        WEBHOOK_NAME,
        summary="Task finished or failed",
        responses={
            "2XX": {"description": "Received; anything else (or no answer in time) is retried"},
            410: {"description": "Gone: stop retrying this delivery"},
        },
        openapi_extra={
            "requestBody": {"content": {"application/json": {"examples": WEBHOOK_EXAMPLES}}}
        },
    )
    async def task_ended(
        body: TaskObject,
        webhook_id: Annotated[
            str, Header(description="msg_…: one per event, the same on every retry")
        ],
        webhook_timestamp: Annotated[str, Header(description="Unix seconds of this attempt")],
        webhook_signature: Annotated[
            str,
            Header(
                description='Standard Webhooks: v1,<base64 HMAC-SHA256 of "{webhook-id}.'
                '{webhook-timestamp}.{body}"> (two, space-separated, during a rotation)'
            ),
        ],
        x_webhook_secret: Annotated[
            str | None, Header(description="Your webhook_secret, verbatim, when you gave one")
        ] = None,
    ) -> None:
        """The task object exactly as `/api/v1/fetch` returns it, frozen when the task ended
        (every retry sends the same bytes). Delivered at least once: deduplicate on
        `webhook-id`; verify `webhook-signature` with the account's `whsec_` secret."""


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _document_imagine_request(components: dict[str, Any], models: Sequence[str]) -> None:
    """State in the schema what the pipeline enforces (its 400 messages stay the contract's)."""
    request = components.get("ImagineRequest")
    if request is None:
        return
    props = request["properties"]

    def keep(name: str, schema: dict[str, Any], nullable: bool = True) -> None:
        old = props[name]
        new = _nullable(schema) if nullable else schema
        props[name] = {
            **new,
            **{k: v for k, v in old.items() if k in ("title", "description", "default")},
        }

    keep("prompt", {"type": "string", "minLength": 1}, nullable=False)
    keep("image_url", {"type": "string", "minLength": 1}, nullable=False)
    if models:
        keep("model", {"type": "string", "enum": list(models)})
    keep("aspect_ratio", {"type": "string", "enum": [*ASPECT_SIZES, AUTO_RATIO]})
    keep("output_format", {"type": "string", "enum": ["png", "jpeg"]})
    for name in ("prompt", "image_url"):
        props[name].pop("default", None)
    request["required"] = ["prompt", "image_url"]


def _restore_examples(schema: dict[str, Any]) -> None:
    """Put back the declared examples verbatim: FastAPI drops their nulls (`"error": null`)."""
    declared: dict[tuple[str, str], Any] = {}
    for responses in (
        UNAUTHORIZED,
        JSON_BODY,
        IMAGINE,
        FETCH,
        FETCH_MANY,
        FILES,
        UPLOADS,
        UPLOAD_GET,
        OPENAI_AUTH,
        OPENAI_MODEL,
        OPENAI_EDITS,
    ):
        for status, response in responses.items():
            media = response.get("content", {}).get("application/json", {})
            if "example" in media:
                declared[(str(status), response["description"])] = media["example"]
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                example = declared.get((status, response.get("description", "")))
                media = response.get("content", {}).get("application/json")
                if example is not None and media is not None:
                    media["example"] = example
    hook = schema.get("webhooks", {}).get(WEBHOOK_NAME, {}).get("post")
    if hook is not None:
        hook["requestBody"]["content"]["application/json"]["examples"] = WEBHOOK_EXAMPLES


def install_openapi(app: FastAPI, models: Sequence[str] = ()) -> None:
    """Serve an OpenAPI document without FastAPI's default 422 (our validation errors are
    400), with the request rules, the webhook and the catalog's model ids (`models`)."""
    _declare_webhooks(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                webhooks=app.webhooks.routes,
            )
            operations = [
                *schema.get("paths", {}).values(),
                *schema.get("webhooks", {}).values(),
            ]
            for path in operations:
                for operation in path.values():
                    responses = operation.get("responses", {})
                    if responses.get("422", {}).get("description") == "Validation Error":
                        del responses["422"]
            hook = schema.get("webhooks", {}).get(WEBHOOK_NAME, {}).get("post", {})
            hook.get("responses", {}).pop("200", None)
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            _document_imagine_request(components, models)
            _restore_examples(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
