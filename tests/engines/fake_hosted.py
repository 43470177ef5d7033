"""Fakes of fal's queue API and Replicate's predictions API, per their documented protocols."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .fakes import LEAKY_DETAIL, SECRET, Answer, FakeServer, Task

# fal's FLUX.2 apps and their input schemas ("Flux 2 Pro API" reference; the "Flux 2 Max"
# and "Flux 2 Flex" model pages): editing apps take an `image_urls` list (required),
# text-to-image apps none; flex adds guidance_scale, num_inference_steps and
# enable_prompt_expansion. fal refuses what its schema does not describe (422).
FAL_FLUX2_APPS = {
    "fal-ai/flux-2-pro": ("generate", False),
    "fal-ai/flux-2-pro/edit": ("edit", False),
    "fal-ai/flux-2-max": ("generate", False),
    "fal-ai/flux-2-max/edit": ("edit", False),
    "fal-ai/flux-2-flex": ("generate", True),
    "fal-ai/flux-2-flex/edit": ("edit", True),
}
_FAL_COMMON = {
    "prompt",
    "image_size",
    "seed",
    "safety_tolerance",
    "enable_safety_checker",
    "output_format",
    "sync_mode",
}
_FAL_FLEX = {"guidance_scale", "num_inference_steps", "enable_prompt_expansion"}
_FAL_SIZES = {"auto", "square_hd", "square", "portrait_4_3", "portrait_16_9"}
_FAL_SIZES |= {"landscape_4_3", "landscape_16_9"}


def _number(value: object, low: float, high: float, integer: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return (not integer or isinstance(value, int)) and low <= value <= high


def _is_image_ref(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("data:image/", "http://", "https://"))


def fal_flux2_problems(app: str, body: dict[str, object]) -> list[str]:
    """What fal's FLUX.2 schema refuses in `body` for `app` (empty: valid)."""
    kind, flex = FAL_FLUX2_APPS[app]
    allowed = _FAL_COMMON | ({"image_urls"} if kind == "edit" else set())
    allowed |= _FAL_FLEX if flex else set()
    problems = sorted(set(body) - allowed)
    if not isinstance(body.get("prompt"), str):
        problems.append("prompt")
    urls = body.get("image_urls")
    if kind == "edit" and (
        not isinstance(urls, list) or not urls or not all(_is_image_ref(u) for u in urls)
    ):
        problems.append("image_urls")
    size = body.get("image_size", "auto")
    if isinstance(size, dict):
        if set(size) != {"width", "height"} or not all(
            _number(v, 1, 14142, integer=True) for v in size.values()
        ):
            problems.append("image_size")
    elif size not in _FAL_SIZES or (kind == "generate" and size == "auto"):
        problems.append("image_size")
    if body.get("safety_tolerance", "2") not in ("1", "2", "3", "4", "5"):
        problems.append("safety_tolerance")
    if body.get("output_format", "jpeg") not in ("jpeg", "png"):
        problems.append("output_format")
    if "seed" in body and not _number(body["seed"], 0, 2**63, integer=True):
        problems.append("seed")
    if "guidance_scale" in body and not _number(body["guidance_scale"], 1.5, 10):
        problems.append("guidance_scale")
    if "num_inference_steps" in body and not _number(
        body["num_inference_steps"], 2, 50, integer=True
    ):
        problems.append("num_inference_steps")
    if "enable_prompt_expansion" in body and not isinstance(body["enable_prompt_expansion"], bool):
        problems.append("enable_prompt_expansion")
    return problems


# Replicate's FLUX.2 models and their input schemas (the model pages' API tab,
# black-forest-labs/flux-2-pro, -max, -flex): `input_images` (≤ 8, flex ≤ 10), a ratio
# name with a megapixel `resolution`, webp/jpg/png, tolerance 1–5; flex adds guidance,
# steps and prompt_upsampling. An input the schema does not describe is refused (422).
REPLICATE_FLUX2 = {
    "black-forest-labs/flux-2-pro": (8, False),
    "black-forest-labs/flux-2-max": (8, False),
    "black-forest-labs/flux-2-flex": (10, True),
}
_REPLICATE_COMMON = {
    "prompt",
    "input_images",
    "aspect_ratio",
    "resolution",
    "width",
    "height",
    "safety_tolerance",
    "seed",
    "output_format",
    "output_quality",
}
_REPLICATE_FLEX = {"guidance", "steps", "prompt_upsampling"}
_REPLICATE_RATIOS = {"match_input_image", "custom", "1:1", "16:9", "3:2", "2:3", "4:5"}
_REPLICATE_RATIOS |= {"5:4", "9:16", "3:4", "4:3"}


def replicate_flux2_problems(model: str, data: dict[str, object]) -> list[str]:
    """What Replicate's FLUX.2 schema refuses in a prediction's `input` (empty: valid)."""
    limit, flex = REPLICATE_FLUX2[model]
    problems = sorted(set(data) - _REPLICATE_COMMON - (_REPLICATE_FLEX if flex else set()))
    if not isinstance(data.get("prompt"), str):
        problems.append("prompt")
    images = data.get("input_images", [])
    if (
        not isinstance(images, list)
        or len(images) > limit
        or not all(_is_image_ref(i) for i in images)
    ):
        problems.append("input_images")
    if data.get("aspect_ratio", "1:1") not in _REPLICATE_RATIOS:
        problems.append("aspect_ratio")
    resolution = data.get("resolution", "1 MP")
    if resolution not in ("match_input_image", "0.5 MP", "1 MP", "2 MP", "4 MP"):
        problems.append("resolution")
    if not _number(data.get("safety_tolerance", 2), 1, 5, integer=True):
        problems.append("safety_tolerance")
    if data.get("output_format", "webp") not in ("webp", "jpg", "png"):
        problems.append("output_format")
    if "seed" in data and not _number(data["seed"], 0, 2**63, integer=True):
        problems.append("seed")
    if "guidance" in data and not _number(data["guidance"], 1.5, 10):
        problems.append("guidance")
    if "steps" in data and not _number(data["steps"], 1, 50, integer=True):
        problems.append("steps")
    if "prompt_upsampling" in data and not isinstance(data["prompt_upsampling"], bool):
        problems.append("prompt_upsampling")
    return problems


def fal_app(server: FakeServer) -> Starlette:
    """POST /<app> → {request_id, status_url, response_url}; status → IN_QUEUE … COMPLETED."""

    def authorized(request: Request) -> bool:
        server.state.record(request, "authorization")
        return request.headers.get("authorization") == f"Key {SECRET}"

    async def submit(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"detail": "Unauthorized"}, 401)
        state = server.state
        body = await request.json()
        state.bodies.append(body)
        app = request.path_params["app"]
        if app in FAL_FLUX2_APPS and (problems := fal_flux2_problems(app, body)):
            detail = [
                {"loc": ["body", p], "msg": "invalid", "type": "value_error"} for p in problems
            ]
            return JSONResponse({"detail": detail}, 422)
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
        model = f"{request.path_params['owner']}/{request.path_params['name']}"
        if model in REPLICATE_FLUX2 and (
            problems := replicate_flux2_problems(model, body["input"])
        ):
            return JSONResponse(
                {
                    "title": "Input validation failed",
                    "detail": f"- {', '.join(problems)}: invalid",
                    "status": 422,
                    "invalid_fields": [{"field": p, "type": "invalid"} for p in problems],
                },
                422,
            )
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
