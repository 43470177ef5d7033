"""A fake Black Forest Labs API following its documented submit/poll protocol."""

from __future__ import annotations

import base64
import binascii

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .fakes import LEAKY_DETAIL, SECRET, Answer, FakeServer, Task

_OUTCOMES = {
    "ready": "Ready",
    "request_moderated": "Request Moderated",
    "content_moderated": "Content Moderated",
    "error": "Error",
}


def bfl_app(server: FakeServer) -> Starlette:
    """POST /v1/<endpoint> → {id, polling_url}; GET /v1/get_result?id= → {status, result}."""

    async def submit(request: Request) -> Response:
        state = server.state
        state.record(request, "x-key")
        if request.headers.get("x-key") != SECRET:
            return JSONResponse({"detail": "Not authenticated"}, 401)
        body = await request.json()
        state.bodies.append(body)
        problems = []
        if not isinstance(body.get("prompt"), str):
            problems.append("prompt")
        try:
            base64.b64decode(body.get("input_image", ""), validate=True)
        except (binascii.Error, ValueError):
            problems.append("input_image")
        if int(body.get("safety_tolerance", 2)) > 2:
            problems.append("safety_tolerance")
        if problems:
            return JSONResponse(
                {"detail": [{"loc": ["body", p], "msg": "invalid"} for p in problems]}, 422
            )
        got = state.accept()
        if isinstance(got, Answer):
            return got.response()
        if state.polling_url == "":  # older API versions answered with the id only
            return JSONResponse({"id": got.id})
        polling = state.polling_url or f"{server.base_url}/v1/get_result?id={got.id}"
        return JSONResponse({"id": got.id, "polling_url": polling})

    async def get_result(request: Request) -> Response:
        state = server.state
        state.record(request, "x-key")
        if request.headers.get("x-key") != SECRET:
            return JSONResponse({"detail": "Not authenticated"}, 401)
        task_id = request.query_params.get("id", "")
        got = state.advance(task_id)
        if isinstance(got, Answer):
            return got.response()
        if got is None:
            return JSONResponse({"id": task_id, "status": "Task not found", "result": None})
        return JSONResponse(_poll_answer(state.outcome, got, state.result_for(got)))

    async def redirect(request: Request) -> Response:
        server.state.record(request, "x-key")
        return Response(b"", 302, {"location": request.query_params["to"]})

    return Starlette(
        routes=[
            Route("/redirect", redirect, methods=["GET"]),
            Route("/v1/get_result", get_result, methods=["GET"]),
            Route("/v1/{endpoint}", submit, methods=["POST"]),
            Route("/delivery/{name}", lambda r: server.state.delivery(r), methods=["GET"]),
        ]
    )


def _poll_answer(outcome: str, task: Task, sample: str) -> dict[str, object]:
    if not task.done:
        return {"id": task.id, "status": "Pending", "result": None, "progress": 0.4}
    if outcome == "malformed":
        return {"id": task.id, "state": "weird"}
    status = _OUTCOMES[outcome]
    if status == "Ready":
        return {
            "id": task.id,
            "status": status,
            "progress": 1.0,
            "result": {"sample": sample, "prompt": "p", "seed": 1},
        }
    return {"id": task.id, "status": status, "result": None, "details": LEAKY_DETAIL}
