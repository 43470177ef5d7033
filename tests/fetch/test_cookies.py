"""The shared outbound client keeps no cookies: what one host sets is never sent again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from imagine.fetch.client import build_outbound_client
from imagine.settings import Settings


class _CookieHost:
    """A loopback server: /set answers with Set-Cookie, every request's Cookie is recorded."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.seen.append(self.headers.get("Cookie"))
                self.send_response(200)
                if self.path.startswith("/set"):
                    self.send_header("Set-Cookie", "sid=account-a-session; Path=/; Max-Age=3600")
                    self.send_header("Set-Cookie", "big=" + "x" * 4000 + "; Path=/")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )


@pytest.fixture
def cookie_host() -> Iterator[_CookieHost]:
    host = _CookieHost()
    host.thread.start()
    try:
        yield host
    finally:
        host.server.shutdown()
        host.server.server_close()


async def test_cookies_set_by_one_response_are_never_sent(cookie_host: _CookieHost) -> None:
    async with build_outbound_client(Settings(fetch_allow=["127.0.0.1/32"])) as client:
        first = await client.get(f"{cookie_host.url}/set")
        assert "sid=account-a-session" in first.headers.get("set-cookie", "")
        await client.get(f"{cookie_host.url}/image.png")
        await client.get(f"{cookie_host.url}/other-account-webhook")
        assert cookie_host.seen == [None, None, None]  # no Cookie header, ever
        assert len(client.cookies.jar) == 0
