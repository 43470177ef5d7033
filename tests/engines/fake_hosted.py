"""Fakes of fal's queue API and Replicate's predictions API, per their documented protocols."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .fakes import LEAKY_DETAIL, SECRET, Answer, FakeServer, Task


def fal_app(server: FakeServer) -> Starlette:
    """POST /<app> → {request_id, status_url, response_url}; status → IN_QUEUE … COMPLETED."""

    def authorized(request: Request) -> bool:
        server.state.record(request, "authorization")
        return request.headers.get("authorization") == f"Key {SECRET}"

    async def submit(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"detail": "Unauthorized"}, 401)
        state = server.state
        state.bodies.append(await request.json())
        got = state.accept()
        if isinstance(got, Answer):
            return got.response()
        # As on fal, the request URLs use the app's owner/alias, not its full path.
        owner_alias = "/".join(request.path_params["app"].split("/")[:2])
        base = f"{server.base_url}/{owner_alias}/requests/{got.id}"
        return JSONResponse(
            {
                "request_id": got.id,
                "status_url": state.polling_url or f"{base}/status",
                "response_url": f"{base}",
                "cancel_url": f"{base}/cancel",
                "queue_position": 0,
            }
        )

    async def status(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"detail": "Unauthorized"}, 401)
        got = server.state.advance(request.path_params["id"])
        if isinstance(got, Answer):
            return got.response()
        if got is None:
            return JSONResponse({"detail": "Request not found"}, 404)
        if not got.done:
            state = "IN_QUEUE" if got.polls == 1 else "IN_PROGRESS"
            return JSONResponse({"status": state, "queue_position": 0}, 202)
        return JSONResponse({"status": "COMPLETED", "logs": None, "response_url": "x"})

    async def cancel(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"detail": "Unauthorized"}, 401)
        if server.state.cancel(request.path_params["id"]):
            return JSONResponse({"status": "CANCELLATION_REQUESTED"}, 202)
        return JSONResponse({"status": "ALREADY_COMPLETED"}, 400)

    async def result(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"detail": "Unauthorized"}, 401)
        state = server.state
        task = state.tasks.get(request.path_params["id"])
        if task is None or not task.done:
            return JSONResponse({"detail": "Request is still in progress"}, 400)
        if state.outcome == "policy":
            return JSONResponse(
                {
                    "detail": [
                        {
                            "loc": ["body", "prompt"],
                            "msg": "The content was flagged by a content checker.",
                            "type": "content_policy_violation",
                            "input": LEAKY_DETAIL,
                        }
                    ]
                },
                422,
            )
        if state.outcome == "error":
            return JSONResponse({"detail": LEAKY_DETAIL}, 500)
        if state.outcome == "malformed":
            return JSONResponse({"images": []})
        w, h = state.result_size
        return JSONResponse(
            {
                "images": [
                    {
                        "url": state.result_for(task),
                        "width": w,
                        "height": h,
                        "content_type": "image/png",
                    }
                ],
                "has_nsfw_concepts": [state.outcome == "nsfw"],
                "seed": 1,
                "prompt": "p",
            }
        )

    return Starlette(
        routes=[
            Route("/delivery/{name}", lambda r: server.state.delivery(r), methods=["GET"]),
            Route("/{prefix:path}/requests/{id}/status", status, methods=["GET"]),
            Route("/{prefix:path}/requests/{id}/cancel", cancel, methods=["PUT"]),
            Route("/{prefix:path}/requests/{id}", result, methods=["GET"]),
            Route("/{app:path}", submit, methods=["POST"]),
        ]
    )


def replicate_app(server: FakeServer) -> Starlette:
    """POST /v1/models/<owner>/<name>/predictions (Prefer: wait) → prediction; GET urls.get."""

    def prediction(task: Task) -> dict[str, object]:
        state = server.state
        status, output, error = "processing", None, None
        if task.done:
            status = {
                "ready": "succeeded",
                "flagged": "failed",
                "error": "failed",
                "canceled": "canceled",
                "malformed": "exploded",
            }[state.outcome]
            if state.outcome == "ready":
                output = state.result_for(task)
            elif state.outcome == "flagged":
                error = "Prediction failed: flagged as sensitive. Please try again (E005)"
            elif state.outcome == "error":
                error = LEAKY_DETAIL
        elif task.polls == 0:
            status = "starting"
        get = state.polling_url or f"{server.base_url}/v1/predictions/{task.id}"
        return {
            "id": task.id,
            "model": "black-forest-labs/flux-kontext-max",
            "version": "hidden",
            "status": status,
            "output": output,
            "error": error,
            "logs": "",
            "urls": {
                "get": get,
                "cancel": f"{get}/cancel",
                "web": f"https://replicate.example/p/{task.id}",
            },
        }

    def authorized(request: Request) -> bool:
        server.state.record(request, "authorization")
        return request.headers.get("authorization") == f"Bearer {SECRET}"

    async def create(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"detail": "Unauthenticated"}, 401)
        state = server.state
        body = await request.json()
        state.bodies.append({"body": body, "prefer": request.headers.get("prefer")})
        if not isinstance(body.get("input", {}).get("prompt"), str):
            return JSONResponse({"detail": "input.prompt is required", "status": 422}, 422)
        got = state.accept()
        if isinstance(got, Answer):
            return got.response()
        if state.submit_hold:  # `Prefer: wait`: the answer is held while the model runs
            await asyncio.sleep(state.submit_hold)
        if state.pending_polls == 0:  # finishes within the sync wait
            state.advance(got.id)
        return JSONResponse(prediction(got), 201)

    async def cancel(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"detail": "Unauthenticated"}, 401)
        task = server.state.tasks.get(request.path_params["id"])
        if task is None:
            return JSONResponse({"detail": "Not found", "status": 404}, 404)
        server.state.cancel(task.id)
        return JSONResponse({**prediction(task), "status": "canceled"})

    async def get(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"detail": "Unauthenticated"}, 401)
        got = server.state.advance(request.path_params["id"])
        if isinstance(got, Answer):
            return got.response()
        if got is None:
            return JSONResponse({"detail": "Not found", "status": 404}, 404)
        return JSONResponse(prediction(got))

    return Starlette(
        routes=[
            Route("/v1/models/{owner}/{name}/predictions", create, methods=["POST"]),
            Route("/v1/predictions/{id}", get, methods=["GET"]),
            Route("/v1/predictions/{id}/cancel", cancel, methods=["POST"]),
            Route("/delivery/{name}", lambda r: server.state.delivery(r), methods=["GET"]),
        ]
    )
