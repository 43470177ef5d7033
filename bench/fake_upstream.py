"""Loopback helpers for bench/run_all.py, run as their own process (their CPU is not the
server's): an image host and an instant-or-slow fake of the Black Forest Labs API.

  GET  /photo.jpg              the photo-like input JPEG (1280×960, ~1.2 MP)
  POST /v1/flux-kontext-max    BFL submit → {id, polling_url}
  GET  /v1/get_result?id=      Pending until `delay` seconds passed, then Ready
  GET  /delivery/<id>.<fmt>    the result (1392×752 photo-like, jpeg or png, as requested)
  POST /_delay?s=5             set the delay for tasks submitted from now on

Run: python bench/fake_upstream.py PORT
"""

from __future__ import annotations

import io
import itertools
import sys
import time

import uvicorn
from photo import photo_like
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

STATE: dict[str, float] = {"delay": 0.0}
TASKS: dict[str, tuple[float, str]] = {}
COUNTER = itertools.count()


def _encoded(img: object, fmt: str, **save: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **save)  # type: ignore[attr-defined]
    return buf.getvalue()


INPUT = _encoded(photo_like(1280, 960), "JPEG", quality=90)
_RESULT = photo_like(1392, 752, seed=11)
RESULTS = {"jpeg": _encoded(_RESULT, "JPEG", quality=95), "png": _encoded(_RESULT, "PNG")}


async def photo(request: Request) -> Response:
    return Response(INPUT, media_type="image/jpeg")


async def submit(request: Request) -> Response:
    body = await request.json()
    task_id = f"t{next(COUNTER)}"
    fmt = "png" if body.get("output_format") == "png" else "jpeg"
    TASKS[task_id] = (time.monotonic() + STATE["delay"], fmt)
    base = f"http://{request.url.netloc}"
    return JSONResponse({"id": task_id, "polling_url": f"{base}/v1/get_result?id={task_id}"})


async def get_result(request: Request) -> Response:
    task_id = request.query_params.get("id", "")
    if task_id not in TASKS:
        return JSONResponse({"id": task_id, "status": "Task not found"})
    ready_at, fmt = TASKS[task_id]
    if time.monotonic() < ready_at:
        return JSONResponse({"id": task_id, "status": "Pending", "result": None})
    sample = f"http://{request.url.netloc}/delivery/{task_id}.{fmt}"
    return JSONResponse({"id": task_id, "status": "Ready", "result": {"sample": sample}})


async def delivery(request: Request) -> Response:
    fmt = request.path_params["name"].rsplit(".", 1)[-1]
    return Response(RESULTS[fmt], media_type=f"image/{fmt}")


async def set_delay(request: Request) -> Response:
    STATE["delay"] = float(request.query_params.get("s", "0"))
    return JSONResponse(STATE)


app = Starlette(
    routes=[
        Route("/photo.jpg", photo),
        Route("/v1/get_result", get_result),
        Route("/v1/{endpoint}", submit, methods=["POST"]),
        Route("/delivery/{name}", delivery),
        Route("/_delay", set_delay, methods=["POST"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", backlog=4096)
