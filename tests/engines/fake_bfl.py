"""A fake Black Forest Labs API following its documented submit/poll protocol."""

from __future__ import annotations

import asyncio
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


# FLUX.2 endpoints and how many input images each takes (input_image … input_image_N).
FLUX2_INPUTS = {
    "flux-2-pro": 8,
    "flux-2-max": 8,
    "flux-2-flex": 8,
    "flux-2-klein-4b": 4,
    "flux-2-klein-9b": 5,
}
# What the fake charges per task (BFL answers with `cost` in its credits).
FLUX2_COST = 3.5


def _b64_ok(value: object) -> bool:
    try:
        base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return False
    return bool(value)


def _flux2_problems(endpoint: str, body: dict[str, object]) -> list[str]:
    """The documented FLUX.2 body rules: inputs in sequence within the endpoint's limit,
    width/height multiples of 16, at least 64, at most 4 MP (0 or absent: inferred)."""
    problems = []
    limit = FLUX2_INPUTS[endpoint]
    names = ["input_image"] + [f"input_image_{n}" for n in range(2, 11)]
    given = [n for n in names if n in body]
    if given != names[: len(given)] or len(given) > limit:
        problems.append("input_image")
    problems += [n for n in given if not _b64_ok(body[n])]
    width, height = body.get("width") or 0, body.get("height") or 0
    for name, side in (("width", width), ("height", height)):
        if not isinstance(side, int) or (side and (side % 16 or side < 64)):
            problems.append(name)
    if isinstance(width, int) and isinstance(height, int) and width * height > 4_194_304:
        problems.append("width")
    if not given and not (width and height):
        problems.append("width")  # nothing to infer the size from
    if "aspect_ratio" in body:
        problems.append("aspect_ratio")
    return problems


def bfl_app(server: FakeServer) -> Starlette:
    """POST /v1/<endpoint> → {id, polling_url[, cost]}; GET /v1/get_result?id= → {status,
    result}. Kontext endpoints need `input_image`; FLUX.2 ones follow `_flux2_problems`."""

    async def submit(request: Request) -> Response:
        state = server.state
        state.record(request, "x-key")
        if request.headers.get("x-key") != SECRET:
            return JSONResponse({"detail": "Not authenticated"}, 401)
        body = await request.json()
        state.bodies.append(body)
        endpoint = request.path_params["endpoint"]
        problems = []
        if not isinstance(body.get("prompt"), str):
            problems.append("prompt")
        if endpoint in FLUX2_INPUTS:
            problems += _flux2_problems(endpoint, body)
        else:
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
        if state.submit_hold:  # a slow upload/acceptance
            await asyncio.sleep(state.submit_hold)
        got = state.accept()
        if isinstance(got, Answer):
            return got.response()
        if state.polling_url == "":  # older API versions answered with the id only
            return JSONResponse({"id": got.id})
        polling = state.polling_url or f"{server.base_url}/v1/get_result?id={got.id}"
        answer: dict[str, object] = {"id": got.id, "polling_url": polling}
        if endpoint in FLUX2_INPUTS:
            answer.update(cost=FLUX2_COST, input_mp=1.0, output_mp=1.0)
        return JSONResponse(answer)

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

    async def credits(request: Request) -> Response:
        # "Get the user's credits": GET /v1/credits (x-key) → {"credits": <number>}.
        state = server.state
        state.record(request, "x-key")
        if request.headers.get("x-key") != SECRET:
            return JSONResponse({"detail": "Not authenticated"}, 401)
        if isinstance(state.credits, Answer):
            return state.credits.response()
        return JSONResponse({"credits": state.credits})

    async def redirect(request: Request) -> Response:
        server.state.record(request, "x-key")
        return Response(b"", 302, {"location": request.query_params["to"]})

    return Starlette(
        routes=[
            Route("/redirect", redirect, methods=["GET"]),
            Route("/v1/get_result", get_result, methods=["GET"]),
            Route("/v1/credits", credits, methods=["GET"]),
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
