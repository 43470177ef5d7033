"""The GPU worker's HTTP app: `POST /v1/edit` for the gateway's remote engine.

The same app runs under Ray Serve (one replica per GPU) and under plain uvicorn
(`imagine gpu serve --no-ray`). Every call needs `Authorization: Bearer
<IMAGINE_GPU_WORKER_TOKEN>`. The answer is an NDJSON stream: `{"accepted": true}` once the
edit holds the GPU, `{"progress": f}` lines while it denoises, then `{"image": <base64 PNG>,
"warnings": [...]}` or `{"error": {"status": n, "message": "…"}}`. A caller that closes the
stream stops the denoising loop between two steps.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import AsyncGenerator
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field, SecretStr, ValidationError
from starlette.types import Receive, Scope, Send

from imagine import images
from imagine.catalog import ASPECT_SIZES
from imagine.engines.base import EditOptions
from imagine.engines.limiter import UpstreamQueueFull
from imagine.errors import ImagineError
from imagine.gpu.engine import DiffusersEngine, served_by_warning

PROGRESS_EVERY = 0.25  # seconds between progress lines (also how soon a hang-up is noticed)


class WorkerEdit(BaseModel):
    """One edit request from the gateway."""

    prompt: str = Field(min_length=1, max_length=4000)
    model: str = "flux-kontext-dev"
    aspect_ratio: str = "1:1"
    seed: int | None = None
    image: str = Field(min_length=1, description="the input image, base64")


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode() + b"\n"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"msg": message}]}, status_code=status)


async def _run(
    engine: DiffusersEngine, data: bytes, edit: WorkerEdit
) -> AsyncGenerator[bytes, None]:
    """The NDJSON events of one edit."""
    try:
        await engine.gpu.acquire(engine.limits.queue_timeout)
    except UpstreamQueueFull:
        yield _line({"error": {"status": 429, "message": "GPU queue full"}})
        return
    try:
        yield _line({"accepted": True})
        latest: list[float] = []
        options = EditOptions(
            model=edit.model,
            aspect_ratio=edit.aspect_ratio,
            width=ASPECT_SIZES[edit.aspect_ratio][0],
            height=ASPECT_SIZES[edit.aspect_ratio][1],
            seed=edit.seed,
            progress=latest.append,
        )
        result: list[bytes] = []
        failure: list[ImagineError] = []

        async def work() -> None:
            try:
                picture = await engine.generate(None, data, edit.prompt, options)
                result.append(await anyio.to_thread.run_sync(images.encode, picture, "png"))
            except ImagineError as exc:
                failure.append(exc)

        sent = -1.0
        async with anyio.create_task_group() as tg:
            tg.start_soon(work)
            while not result and not failure:
                await anyio.sleep(PROGRESS_EVERY)
                if latest and latest[-1] != sent:
                    sent = latest[-1]
                    yield _line({"progress": round(sent, 4)})
        if failure:
            exc = failure[0]
            message = exc.messages[0] if exc.messages else "generation failed"
            yield _line({"error": {"status": exc.status, "message": message}})
            return
        yield _line(
            {
                "image": base64.b64encode(result[0]).decode("ascii"),
                "warnings": served_by_warning(edit.model),
            }
        )
    finally:
        engine.gpu.release()


class _EditStream(StreamingResponse):
    """The NDJSON answer. A caller that hangs up while the events wait at a `yield` leaves
    the generator suspended; closing it here (not whenever it is garbage-collected) stops
    the denoising loop and frees the GPU slot at once."""

    def __init__(self, events: AsyncGenerator[bytes, None]) -> None:
        super().__init__(events, media_type="application/x-ndjson")
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._events.aclose()


def create_worker_app(engine: DiffusersEngine, token: SecretStr) -> FastAPI:
    """The worker app around one loaded engine (one GPU)."""
    secret = token.get_secret_value().encode()
    if not secret:
        raise ValueError("the GPU worker needs IMAGINE_GPU_WORKER_TOKEN")
    app = FastAPI(title="imagine GPU worker", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v1/health")
    async def health() -> dict[str, object]:
        # steps_run: denoising steps since start (a stopped edit's counter stops growing);
        # busy: whether an edit holds this GPU now.
        return {
            "status": "ok",
            "steps_run": engine.runner.steps_run,
            "busy": engine.gpu.in_flight > 0,
        }

    @app.post("/v1/edit")
    async def edit(request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(given, secret):
            return JSONResponse({}, status_code=401)
        try:
            body = WorkerEdit.model_validate_json(await request.body())
        except ValidationError as exc:
            return _error(400, str(exc.errors()[0]["msg"]))
        if body.aspect_ratio not in ASPECT_SIZES:
            return _error(400, f"aspect_ratio must be one of {' '.join(ASPECT_SIZES)}")
        try:
            data = base64.b64decode(body.image, validate=True)
        except (binascii.Error, ValueError):
            return _error(400, "image must be base64")
        return _EditStream(_run(engine, data, body))

    return app
