"""A real webhook receiver on loopback that records every request and answers as scripted."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass(frozen=True)
class Answer:
    """How the receiver answers one request."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) resets connections when two workers send 32 at once.
    request_queue_size = 256
    daemon_threads = True


class Receiver:
    """ThreadingHTTPServer on 127.0.0.1; `script` answers in order, then `default`."""

    def __init__(self, port: int = 0, responder: Callable[[Received], Answer] | None = None):
        self.requests: list[Received] = []
        self.script: list[Answer] = []
        self.default = Answer()
        self.responder = responder
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                got = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
                )
                with receiver.lock:
                    receiver.requests.append(got)
                    if receiver.responder is not None:
                        answer = receiver.responder(got)
                    else:
                        answer = receiver.script.pop(0) if receiver.script else receiver.default
                if answer.delay:
                    time.sleep(answer.delay)
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(answer.status)
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        """The hook URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def count(self) -> int:
        """Requests so far."""
        with self.lock:
            return len(self.requests)

    def ids(self) -> Counter[str]:
        """How many requests each webhook-id got."""
        with self.lock:
            return Counter(r.headers.get("webhook-id", "") for r in self.requests)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
