"""Test harness: the real app on a loopback port, a real image host, real databases."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn
from PIL import Image

from imagine.app import create_app
from imagine.server import server_config
from imagine.services import Services


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    """A listening-ready socket on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


class PromptServer(uvicorn.Server):
    """`uvicorn.Server` that stops as soon as it is asked to: the suite starts and stops well
    over a thousand servers, and uvicorn's own stop costs about 0.15 s each (its main loop
    notices `should_exit` on a 0.1 s tick, then its shutdown pauses 0.1 s for open
    connections even when there are none). Serving is uvicorn's own; only those two waits
    change: `stop()` wakes the main loop, and the pause lasts while connections remain (at
    most 0.1 s, as before). The shutdown steps follow uvicorn 0.54's `Server.shutdown`."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    def stop(self) -> None:
        """Ask the server to exit (from any thread), without waiting for its next tick."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wake.set)

    async def main_loop(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        for _ in range(10):  # closed connections leave the set on the next loop turns
            if not self.server_state.connections:
                break
            await asyncio.sleep(0.01)
        try:
            await asyncio.wait_for(
                self._wait_tasks_to_complete(), timeout=self.config.timeout_graceful_shutdown
            )
        except TimeoutError:
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()


@contextmanager
def live_server(
    services: Services, sock: socket.socket, on_started: Callable[[], None] | None = None
) -> Iterator[str]:
    """Run create_app(services) under uvicorn in a thread; yields its base URL."""
    app = create_app(services=services, on_started=on_started)
    # The production server setup (httptools with header limits and timeouts), as `imagine serve`.
    config = server_config(app, services.settings, log_level="warning", access_log=False)
    server = PromptServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    if not server.started:
        raise RuntimeError("test server did not start")
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        thread.join(timeout=15)


@dataclass
class Route:
    """One canned answer of the image host."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class ImageHost:
    """A real HTTP server on loopback serving canned images (and failures)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.hits.append(self.path)
                route = host.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if route.delay:
                    threading.Event().wait(route.delay)
                self.send_response(route.status)
                for key, value in route.headers.items():
                    self.send_header(key, value)
                if "content-length" not in {k.lower() for k in route.headers}:
                    self.send_header("content-length", str(len(route.body)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(route.body)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def base(self) -> str:
        """Base URL of the host."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, body: bytes, status: int = 200, **headers: str) -> str:
        """Serve `body` at `path`; returns its full URL."""
        self.routes[path] = Route(
            status, body, {k.replace("_", "-"): v for k, v in headers.items()}
        )
        return self.base + path

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def image_bytes(
    size: tuple[int, int] = (640, 480),
    fmt: str = "JPEG",
    color: tuple[int, int, int] = (200, 60, 40),
    **save: Any,
) -> bytes:
    """An encoded test image with a gradient so edits have something to change."""
    img = Image.new("RGB", size, color)
    px = img.load()
    assert px is not None
    for x in range(0, size[0], max(1, size[0] // 64)):
        for y in range(size[1]):
            px[x, y] = (x * 255 // size[0], y * 255 // size[1], 128)
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


def run(coro: Any) -> Any:
    """Run a coroutine to completion from sync code."""
    return asyncio.run(coro)


def create_database(database_url: str) -> None:
    """Create and migrate the database, as the first `imagine serve` does (admin commands
    refuse a database that does not exist yet)."""
    from imagine.db.engine import create_engine
    from imagine.db.migrate import upgrade

    async def _create() -> None:
        engine = create_engine(database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    run(_create())
