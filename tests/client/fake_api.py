"""A scripted imagine server on loopback: answers queued per path, every request recorded.

For what the real server cannot be made to do on cue (429 then 200, a server that has no
/uploads, a slow answer); everything else is tested against the real app."""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """One canned response."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    """One request as received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class FakeApi:
    """`answer(path, …)` queues answers; an unscripted path answers 404 with the error shape."""

    def __init__(self) -> None:
        self.answers: dict[str, deque[Answer]] = defaultdict(deque)
        self.seen: list[Seen] = []
        self._stop = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                api.seen.append(Seen(self.command, self.path, headers, body))
                queue = api.answers.get(self.path)
                answer = queue.popleft() if queue else Answer(404, {"errors": [{"msg": "nope"}]})
                if answer.delay:
                    api._stop.wait(answer.delay)
                payload = b"" if answer.body is None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("content-type", "application/json")
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

            do_GET = _handle
            do_POST = _handle

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(
        self, path: str, status: int = 200, body: Any = None, delay: float = 0.0, **headers: str
    ) -> None:
        """Queue one answer for `path` (header names with `_` for `-`)."""
        self.answers[path].append(
            Answer(status, body, {k.replace("_", "-"): v for k, v in headers.items()}, delay)
        )

    def requests_to(self, path: str) -> list[Seen]:
        """The requests received for `path`, in order."""
        return [s for s in self.seen if s.path == path]

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (a delayed answer is cut short)."""
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
