"""The server `imagine serve` runs (server_config) bounds request heads in size, count and
time, on a real loopback socket: big heads get 431, slow heads are cut off."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
import uvicorn

from imagine.app import create_app
from imagine.db.engine import create_engine
from imagine.db.migrate import upgrade
from imagine.language import LanguageChecker
from imagine.server import server_config
from imagine.services import build_services
from imagine.settings import Settings
from tests.support import bound_socket

HEADER_TIMEOUT = 0.5


@contextmanager
def _serve(config: uvicorn.Config, sock: socket.socket) -> Iterator[tuple[str, int]]:
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.01)
    assert server.started, "server did not start"
    try:
        yield sock.getsockname()[:2]
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@asynccontextmanager
async def production_server(
    tmp_path: Path, language_checker: LanguageChecker, **overrides: object
) -> AsyncIterator[tuple[str, int]]:
    """The real app under the production uvicorn configuration (`server_config`), with a
    short head timeout and `overrides`, on a loopback port."""
    sock = bound_socket()
    settings = Settings(
        data_dir=tmp_path / "data",
        header_timeout=HEADER_TIMEOUT,
        sweep_interval=3600.0,
        log_level="WARNING",
        **overrides,
    )
    engine = create_engine(settings.resolved_database_url())
    await upgrade(engine)
    await engine.dispose()
    services = build_services(settings, language=language_checker)
    config = server_config(create_app(services=services), settings)
    assert config.limit_concurrency == settings.limit_concurrency
    with _serve(config, sock) as address:
        yield address


@contextmanager
def raw_connection(address: tuple[str, int]) -> Iterator[socket.socket]:
    """A raw TCP connection to the server, without Nagle delays."""
    with socket.create_connection(address, timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        yield sock


@pytest.fixture
async def server(
    tmp_path: Path, language_checker: LanguageChecker
) -> AsyncIterator[tuple[str, int]]:
    """The real app under the production uvicorn configuration, with a short head timeout."""
    async with production_server(tmp_path, language_checker) as address:
        yield address


@pytest.fixture
def conn(server: tuple[str, int]) -> Iterator[socket.socket]:
    """A raw TCP connection to the server."""
    with raw_connection(server) as sock:
        yield sock


def _read_all(conn: socket.socket, within: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (True) or `within` seconds pass (False)."""
    data = b""
    end = time.monotonic() + within
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([conn], [], [], left)
        if not ready:
            break
        try:
            chunk = conn.recv(65536)
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def _send_until_answered(conn: socket.socket, chunks: Iterator[bytes]) -> int:
    """Send chunks until the server answers (or all are sent); returns the bytes sent."""
    sent = 0
    for chunk in chunks:
        readable, _, _ = select.select([conn], [], [], 0)
        if readable:
            break
        try:
            conn.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(chunk)
    return sent


def _header_lines(count: int, line: bytes) -> Iterator[bytes]:
    yield b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    batch = 200
    for start in range(0, count, batch):
        yield line * min(batch, count - start)
        time.sleep(0.001)  # let the server read as we go, like a real slow sender
    yield b"\r\n"


def test_a_normal_request_is_served(conn: socket.socket) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(50))
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"Connection: close\r\n\r\n")
    data, closed = _read_all(conn, 5)
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert closed


def test_100_kib_of_headers_get_431_and_the_connection_closes(conn: socket.socket) -> None:
    line = b"X-Pad: " + b"a" * 505 + b"\r\n"  # 512 bytes
    _send_until_answered(conn, _header_lines(200, line))  # 100 KiB
    data, closed = _read_all(conn, 5)
    assert data.startswith(b"HTTP/1.1 431"), data[:200]
    assert closed


def test_400_000_headers_are_refused(conn: socket.socket) -> None:
    started = time.monotonic()
    sent = _send_until_answered(conn, _header_lines(400_000, b"a:b\r\n"))
    data, closed = _read_all(conn, 5)
    assert data.startswith(b"HTTP/1.1 431"), data[:200]
    assert closed
    assert sent < 200 * 1024  # refused long before the 2 MB head was through
    assert time.monotonic() - started < 10


def test_too_many_small_headers_get_431(conn: socket.socket) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    data, closed = _read_all(conn, 5)
    assert data.startswith(b"HTTP/1.1 431"), data[:200]
    assert b"too many request header fields" in data
    assert closed


@pytest.mark.parametrize(
    "first_bytes",
    [b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", b""],
    ids=["partial-head", "silent"],
)
def test_a_client_that_stalls_in_its_head_is_disconnected(
    conn: socket.socket, first_bytes: bytes
) -> None:
    started = time.monotonic()
    conn.sendall(first_bytes)
    data, closed = _read_all(conn, HEADER_TIMEOUT + 4)
    elapsed = time.monotonic() - started
    assert closed, "the server kept a stalled connection open"
    assert HEADER_TIMEOUT * 0.8 <= elapsed < HEADER_TIMEOUT + 3
    if first_bytes:
        assert data.startswith(b"HTTP/1.1 408"), data


def test_a_kept_alive_connection_gets_the_head_deadline_again(conn: socket.socket) -> None:
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data, closed = _read_all(conn, 1.0 + HEADER_TIMEOUT)  # served, then still open
    assert data.startswith(b"HTTP/1.1 200") and not closed, data[:200]
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # ...and stall
    started = time.monotonic()
    data, closed = _read_all(conn, HEADER_TIMEOUT + 4)
    assert closed and time.monotonic() - started < HEADER_TIMEOUT + 3
    assert data.startswith(b"HTTP/1.1 408"), data


def test_a_401_before_the_body_reaches_a_client_still_sending_it(conn: socket.socket) -> None:
    """The gate answers 401 without reading the body; the client only reads after sending
    all of it (as httpx and the OpenAI SDK do). After a plain close the kernel answers the
    late body with a reset, the client's next send fails and it never reads the 401 (the
    SDK raises a connection error); the lingering close reads and drops the rest."""
    size = 2 * 1024 * 1024
    conn.sendall(
        b"POST /api/v1/imagine HTTP/1.1\r\nHost: x\r\nAuthorization: japi_live_unknown\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % size
    )
    time.sleep(0.3)  # the server has answered (and, before the fix, closed)
    chunk = b"x" * 65536
    for _ in range(size // len(chunk)):
        conn.sendall(chunk)  # a reset here is what httpx reports as a connection error
    data, closed = _read_all(conn, 10)
    assert data.startswith(b"HTTP/1.1 401"), data[:200]
    assert closed
