"""Loopback fakes of the hosted providers (real HTTP on 127.0.0.1), plus test helpers."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imagine.clock import FakeClock
from imagine.fetch.client import build_outbound_clients
from imagine.settings import Settings
from tests.support import PromptServer

SECRET = "sk-provider-SECRET-0123456789"
LEAKY_DETAIL = "internal trace at https://internal.example/provider?token=" + SECRET


@dataclass
class Answer:
    """A scripted HTTP answer."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        if isinstance(self.body, bytes | str):
            return Response(self.body, self.status, self.headers)
        return JSONResponse(self.body, self.status, self.headers)


@dataclass
class Task:
    """One accepted task at the fake provider."""

    id: str
    polls: int = 0
    done: bool = False
    ready_at: float | None = None
    cancelled: bool = False


class FakeProvider:
    """Shared state of one fake provider; tests tweak the knobs before calling the engine."""

    def __init__(self, base_url: str, cap: int = 24) -> None:
        self.base_url = base_url
        self.lock = threading.Lock()
        self.cap = cap
        self.submit_plan: list[Answer] = []  # answers to the next submits, then accept
        self.poll_plan: list[Answer] = []  # answers to the next polls, then normal
        self.delivery_plan: list[Answer] = []  # answers to the next downloads, then the file
        self.pending_polls = 2  # polls answered "still running" before the outcome
        self.outcome = "ready"
        self.result_ttl = 600.0  # seconds a result URL lives after the task is ready
        self.result_size = (1024, 1024)
        self.polling_url: str | None = None  # override the URL handed back on submit
        self.result_url: str | None = None  # override the result URL
        self.submit_hold = 0.0  # seconds a submission is held before its answer (sync wait)
        self.credits: float | Answer = 250.0  # the account's balance (BFL GET /v1/credits)
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[Any] = []
        self.auth: list[str] = []
        self.tasks: dict[str, Task] = {}
        self.in_flight = 0
        self.peak = 0
        self.over_cap = 0

    @property
    def submits(self) -> int:
        """Accepted tasks."""
        return len(self.tasks)

    def record(self, request: Request, auth_header: str) -> None:
        with self.lock:
            self.requests.append((request.method, request.url.path))
            self.auth.append(request.headers.get(auth_header, ""))

    def accept(self) -> Task | Answer:
        """Take a task, or answer 429 when over the cap (as the real providers do)."""
        with self.lock:
            if self.submit_plan:
                return self.submit_plan.pop(0)
            if self.in_flight >= self.cap:
                self.over_cap += 1
                return Answer(429, {"detail": "Too many active tasks"}, {"Retry-After": "1"})
            task = Task(uuid.uuid4().hex)
            self.tasks[task.id] = task
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            return task

    def advance(self, task_id: str) -> Task | Answer | None:
        """One poll: a scripted answer, the task (check `done`), or None when unknown."""
        with self.lock:
            if self.poll_plan:
                return self.poll_plan.pop(0)
            task = self.tasks.get(task_id)
            if task is None:
                return None
            task.polls += 1
            if task.polls > self.pending_polls and not task.done:
                task.done = True
                task.ready_at = time.monotonic()
                self.in_flight -= 1
            return task

    def cancel(self, task_id: str) -> bool:
        """Stop a running task (frees its slot); False when unknown or already done."""
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None or task.done:
                return False
            task.done, task.cancelled = True, True
            self.in_flight -= 1
            return True

    def result_for(self, task: Task, suffix: str = "png") -> str:
        return self.result_url or f"{self.base_url}/delivery/{task.id}.{suffix}"

    def delivery(self, request: Request) -> Response:
        """The result file, 403 once its (signed) URL has expired."""
        self.record(request, "authorization")
        if self.delivery_plan:
            return self.delivery_plan.pop(0).response()
        task = self.tasks.get(request.path_params["name"].split(".")[0])
        if task is None or task.ready_at is None:
            return Response(b"", 404)
        if time.monotonic() - task.ready_at > self.result_ttl:
            return Response(b"<Error>AuthenticationFailed: signature expired</Error>", 403)
        buffer = io.BytesIO()
        Image.new("RGB", self.result_size, (200, 30, 30)).save(buffer, "PNG")
        return Response(buffer.getvalue(), 200, media_type="image/png")


class FakeServer:
    """Runs a Starlette app with uvicorn on a free 127.0.0.1 port in a background thread."""

    def __init__(self, build: Callable[[FakeServer], Starlette], cap: int = 24) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.cap = cap
        self.state = FakeProvider(self.base_url, cap)
        config = uvicorn.Config(
            build(self),
            log_level="error",
            lifespan="off",
            access_log=False,
            http="h11",
            ws="none",
            loop="asyncio",
        )
        self._server = PromptServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def reset(self, cap: int | None = None) -> FakeProvider:
        """Fresh provider state for the next test."""
        self.state = FakeProvider(self.base_url, cap or self.cap)
        return self.state

    def __enter__(self) -> FakeServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
        self._thread.join(10)
        self._sock.close()


def counting_app(server: FakeServer) -> Starlette:
    """A host that must never be contacted: it only counts what reaches it."""

    async def anything(request: Request) -> Response:
        server.state.record(request, "x-key")
        return JSONResponse({"status": "Ready", "result": {"sample": "x"}})

    return Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])])


class FakeTime:
    """An injected clock and sleep: sleeping advances the clock instantly."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)


def input_image() -> Image.Image:
    """A small prepared input image."""
    return Image.new("RGB", (1024, 1024), (10, 120, 200))


@asynccontextmanager
async def provider_client(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The production provider-API client (SSRF guard, its own limits), loopback allowed."""
    clients = build_outbound_clients(Settings(fetch_allow=["127.0.0.1/32"], **settings))
    try:
        yield clients.provider
    finally:
        await clients.aclose()
