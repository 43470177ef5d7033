"""The guarded transport's caps: deadline, body size, header size, encodings, TLS pinning."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from imagine.errors import ImageRejected
from imagine.fetch.client import ClientLimits, build_guarded_client
from imagine.fetch.transport import ResponseTooLarge
from imagine.settings import Settings
from tests.fetch.stubs import Guarded, guarded, raw_server


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(data_dir=tmp_path, fetch_allow=["127.0.0.1/32"], **values)


def _drip(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(100):
        conn.sendall(b"x")
        time.sleep(0.1)


def _silent(conn: socket.socket) -> None:
    time.sleep(5)


def _flood(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n")
    chunk = b"\x00" * 65536
    for _ in range(2000):  # ~130 MB if nobody stops reading
        conn.sendall(chunk)


def _big_header(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Junk: " + b"a" * 300_000 + b"\r\nContent-Length: 0\r\n\r\n")


def _gzip(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nabcd")


def _declared_huge(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n")
    time.sleep(2)


async def test_dripping_server_is_cut_off_at_the_deadline(tmp_path: Path) -> None:
    g = guarded(_settings(tmp_path, fetch_deadline=1.0))
    with raw_server(_drip) as server:
        started = time.monotonic()
        with pytest.raises(ImageRejected, match="timed out"):
            await g.fetcher.fetch(server.base + "/x.jpg")
        assert time.monotonic() - started < 2.0
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            await g.client.get(server.base + "/hook")  # the client alone enforces it too
        assert time.monotonic() - started < 2.0


async def test_silent_server_is_cut_off(tmp_path: Path) -> None:
    g = guarded(_settings(tmp_path, fetch_deadline=0.5))
    with raw_server(_silent) as server:
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            await g.client.get(server.base + "/", timeout=30)
        assert time.monotonic() - started < 1.5


async def test_per_request_deadline_only_tightens(tmp_path: Path) -> None:
    g = guarded(_settings(tmp_path, fetch_deadline=1.0))
    with raw_server(_silent) as server:
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            await g.client.get(server.base + "/", extensions={"deadline": 600})
        assert time.monotonic() - started < 2.0


async def test_body_cap_is_enforced_while_streaming(tmp_path: Path) -> None:
    g = guarded(_settings(tmp_path, fetch_max_bytes=200_000))
    with raw_server(_flood) as server:
        with pytest.raises(ImageRejected, match="larger than 200000 bytes"):
            await g.fetcher.fetch(server.base + "/x.png")
        seen = 0
        with pytest.raises(ResponseTooLarge):
            async with g.client.stream("GET", server.base + "/x.png") as response:
                async for chunk in response.aiter_raw():
                    seen += len(chunk)
        assert seen <= 200_000


async def test_declared_length_over_cap_is_refused_before_reading(tmp_path: Path) -> None:
    g = guarded(_settings(tmp_path))
    with raw_server(_declared_huge) as server:
        with pytest.raises(ResponseTooLarge):
            await g.client.get(server.base + "/")
        with pytest.raises(ImageRejected, match="larger than"):
            await g.fetcher.fetch(server.base + "/x.jpg")


async def test_huge_headers_are_refused(tmp_path: Path) -> None:
    g = guarded(_settings(tmp_path))
    with raw_server(_big_header) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await g.client.get(server.base + "/")
        with pytest.raises(ImageRejected, match="could not be fetched"):
            await g.fetcher.fetch(server.base + "/x.jpg")


async def test_compressed_image_bodies_are_refused(tmp_path: Path) -> None:
    g = guarded(_settings(tmp_path))
    with raw_server(_gzip) as server, pytest.raises(ImageRejected, match="content-encoding"):
        await g.fetcher.fetch(server.base + "/x.jpg")


@pytest.fixture
def tls_host() -> Iterator[tuple[str, ssl.SSLContext, list[str]]]:
    """An HTTPS server on 127.0.0.1 whose certificate names only img.test."""
    ca = trustme.CA()
    cert = ca.issue_cert("img.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    sni: list[str] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: sni.append(name or "")  # type: ignore[assignment,misc,unused-ignore]

    class Handler(_Replying):
        def do_GET(self) -> None:
            self.reply(self.headers.get("host", "").encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    try:
        yield str(server.server_address[1]), client_ctx, sni
    finally:
        server.shutdown()
        server.server_close()
        server.server_close()
        thread.join()


async def test_tls_verifies_the_host_name_while_dialling_the_pinned_ip(
    tmp_path: Path, tls_host: tuple[str, ssl.SSLContext, list[str]]
) -> None:
    port, client_ctx, sni = tls_host
    g: Guarded = guarded(_settings(tmp_path), verify=client_ctx)
    g.resolver.set("img.test", ["127.0.0.1"])
    g.resolver.set("evil.test", ["127.0.0.1"])
    r = await g.client.get(f"https://img.test:{port}/")
    assert r.status_code == 200
    assert r.text == f"img.test:{port}"  # Host header carries the name, not the IP
    assert sni == ["img.test"]
    assert g.backend.dialled == [("127.0.0.1", int(port))]
    for url in (f"https://evil.test:{port}/", f"https://127.0.0.1:{port}/"):
        with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            await g.client.get(url)


class _Replying(BaseHTTPRequestHandler):
    """A quiet handler that answers 200 with a body."""

    def reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


class _Counting(_Replying):
    """Answers after a moment, counting requests in progress at once."""

    lock = threading.Lock()
    now = 0
    peak = 0

    def do_GET(self) -> None:
        cls = type(self)
        with cls.lock:
            cls.now += 1
            cls.peak = max(cls.peak, cls.now)
        time.sleep(0.05)
        with cls.lock:
            cls.now -= 1
        self.reply(b"x" * (5000 if self.path == "/big" else 10))


async def test_requests_queue_for_a_connection_first_come_first_served(tmp_path: Path) -> None:
    """More requests than connections wait their turn (not in httpcore's queue) and every
    turn comes back, also after a refused answer."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    client = build_guarded_client(
        _settings(tmp_path),
        ClientLimits(max_bytes=1000, deadline=10.0, connect_timeout=2.0, max_connections=2),
    )
    try:
        responses = await asyncio.gather(*(client.get(f"{base}/{i}") for i in range(12)))
        assert [r.status_code for r in responses] == [200] * 12
        assert _Counting.peak <= 2
        for _ in range(3):  # over the body cap: refused, and the turn is given back
            with pytest.raises(ResponseTooLarge):
                await client.get(f"{base}/big")
        responses = await asyncio.gather(*(client.get(f"{base}/{i}") for i in range(4)))
        assert [r.status_code for r in responses] == [200] * 4
    finally:
        await client.aclose()
        server.shutdown()
        server.server_close()
