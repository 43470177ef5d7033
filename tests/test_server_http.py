"""The HTTP/1.1 protocol `imagine serve` runs (server_config, httptools + guards), on a real
loopback socket: pipelining, head size right at the limit however it is split, and what
llhttp would accept but must not (request smuggling shapes, upgrades, endless trailers)."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from imagine.language import LanguageChecker
from imagine.server import server_config
from imagine.settings import Settings
from tests.support import bound_socket
from tests.test_server_limits import _read_all, _serve, production_server, raw_connection

HEADER_TIMEOUT = 0.5
MAX_HEAD = 2048


@pytest.fixture
async def server(
    tmp_path: Path, language_checker: LanguageChecker
) -> AsyncIterator[tuple[str, int]]:
    """The real app under the production configuration, with a small head limit."""
    async with production_server(tmp_path, language_checker, max_header_bytes=MAX_HEAD) as address:
        yield address


@pytest.fixture
def conn(server: tuple[str, int]) -> Iterator[socket.socket]:
    """A raw TCP connection to the server."""
    with raw_connection(server) as sock:
        yield sock


def _statuses(data: bytes) -> list[bytes]:
    return re.findall(rb"HTTP/1\.1 (\d{3}) ", data)


def _head(size: int) -> bytes:
    """A GET /healthz head of exactly `size` bytes (padded with one header)."""
    start = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "
    pad = size - len(start) - len(b"\r\n\r\n")
    return start + b"a" * pad + b"\r\n\r\n"


def test_pipelined_requests_are_answered_in_order(conn: socket.socket) -> None:
    get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    conn.sendall(
        get
        + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
        + get.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    )
    data, closed = _read_all(conn, 5)
    assert _statuses(data) == [b"200", b"404", b"200"], data
    assert closed


def test_a_pipelined_head_that_stalls_gets_408_after_the_answer_before_it(
    conn: socket.socket,
) -> None:
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nX-Slow: ")
    started = time.monotonic()
    data, closed = _read_all(conn, HEADER_TIMEOUT + 4)
    assert closed and time.monotonic() - started < HEADER_TIMEOUT + 3
    assert _statuses(data) == [b"200", b"408"], data


@pytest.mark.parametrize("packet", [7, 1000, MAX_HEAD + 1], ids=["7-byte", "1000-byte", "whole"])
@pytest.mark.parametrize(("size", "status"), [(MAX_HEAD, b"200"), (MAX_HEAD + 1, b"431")])
def test_a_head_is_measured_exactly_however_it_is_split(
    conn: socket.socket, packet: int, size: int, status: bytes
) -> None:
    head = _head(size)
    assert len(head) == size
    for start in range(0, size, packet):
        try:
            conn.sendall(head[start : start + packet])
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.0005)
    data, closed = _read_all(conn, 5)
    assert _statuses(data) == [status], data[:300]
    assert closed


def test_a_big_pipelined_body_is_not_counted_as_the_next_head(conn: socket.socket) -> None:
    body = b"x" * (300 * 1024)  # more than one read, so the next head shares a read with it
    conn.sendall(
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
        + b"GET /healthz HTTP/1.1\r\nHost: x\r\n"  # the next head begins in the same read
    )
    time.sleep(0.2)
    conn.sendall(b"Connection: close\r\n\r\n")
    data, closed = _read_all(conn, 5)
    assert _statuses(data) == [b"405", b"200"], data[:300]
    assert closed


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"400",
        ),
        (
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n",
            b"400",
        ),
        (b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\nabc", b"400"),
        (
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Content-Length: 3\r\n\r\nabc",
            b"400",
        ),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", b"400"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", b"400"),
        (b"GET /healthz HTTP/1.1\nHost: x\n\n", b"400"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", b"400"),
        (b"GET /healthz HTTP/1.1\r\n\r\n", b"400"),
        (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", b"505"),
        (b"GET /healthz HTTP/1.0\r\n\r\n", b"200"),
    ],
    ids=[
        "cl-and-te",
        "te-gzip-chunked",
        "te-xchunked",
        "cl-twice",
        "obs-fold",
        "control-char",
        "bare-lf",
        "two-hosts",
        "no-host",
        "http-2.0",
        "http-1.0-without-host",
    ],
)
def test_what_h11_refused_is_refused(
    conn: socket.socket, request_bytes: bytes, status: bytes
) -> None:
    conn.sendall(request_bytes)
    data, closed = _read_all(conn, 5)
    assert _statuses(data) == [status], data[:300]
    assert closed


def test_an_upgrade_request_is_answered_and_nothing_after_it_is_read(
    conn: socket.socket,
) -> None:
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    conn.sendall(
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: foo\r\n"
        b"Content-Length: %d\r\n\r\n" % len(smuggled)
    )
    time.sleep(0.2)
    conn.sendall(smuggled)  # its body for a proxy; a request of its own for llhttp
    data, closed = _read_all(conn, 5)
    assert _statuses(data) == [b"405"], data[:300]
    assert closed


def test_endless_trailers_get_the_connection_closed(conn: socket.socket) -> None:
    conn.sendall(
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"1\r\na\r\n0\r\nX-Trailer: "
    )
    data, _ = _read_all(conn, 1)
    assert _statuses(data) == [b"405"], data[:300]  # answered; the body is read on
    for _ in range(100):  # 100 KiB of one trailer value, never ended
        try:
            conn.sendall(b"a" * 1024)
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.001)
    data, closed = _read_all(conn, 5)
    assert closed
    assert not _statuses(data), data[:300]


async def _slow(request: Request) -> Response:
    await asyncio.sleep(0.5)
    return PlainTextResponse("slow")


async def _header_names(request: Request) -> Response:
    await request.body()  # trailers, if any, arrive with the end of the body
    return PlainTextResponse(",".join(name for name, _ in request.headers.items()))


@pytest.fixture
def plain_conn(tmp_path: Path) -> Iterator[socket.socket]:
    """A raw connection to a small app (a slow answer, a header echo) under server_config."""
    app = Starlette(
        routes=[Route("/slow", _slow), Route("/names", _header_names, methods=["POST"])]
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        header_timeout=HEADER_TIMEOUT,
        max_header_bytes=MAX_HEAD,
        log_level="WARNING",
    )
    with (
        _serve(server_config(app, settings, lifespan="off"), bound_socket()) as address,
        socket.create_connection(address, timeout=5) as sock,
    ):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        yield sock


@pytest.mark.parametrize(
    ("pipelined", "status"),
    [
        (b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (MAX_HEAD + 10), b"431"),
        (b"GET /slow HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", b"400"),
    ],
    ids=["oversized-head", "invalid-head"],
)
def test_a_pipelined_request_is_refused_only_after_the_answer_before_it(
    plain_conn: socket.socket, pipelined: bytes, status: bytes
) -> None:
    plain_conn.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" + pipelined)
    data, closed = _read_all(plain_conn, 5)
    assert _statuses(data) == [b"200", status], data[:300]
    assert b"\r\n\r\nslowHTTP/1.1 " + status in data  # the first answer whole, then the refusal
    assert closed


def test_trailer_fields_never_reach_the_request_headers(plain_conn: socket.socket) -> None:
    plain_conn.sendall(
        b"POST /names HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n3\r\nabc\r\n0\r\nAuthorization: smuggled\r\n\r\n"
    )
    data, closed = _read_all(plain_conn, 5)
    assert _statuses(data) == [b"200"], data[:300]
    assert data.endswith(b"\r\n\r\nhost,transfer-encoding,connection"), data
    assert closed


def test_a_pipelined_head_after_a_chunked_body_in_the_same_read_is_served(
    plain_conn: socket.socket,
) -> None:
    body = b"3\r\nabc\r\n" * 1000 + b"0\r\n\r\n"  # 5 KiB of chunk framing: more than MAX_HEAD
    plain_conn.sendall(
        b"POST /names HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + body
        + b"GET /slow HTTP/1.1\r\nHost: x\r\n"  # the next head begins in the same read
    )
    time.sleep(0.2)
    plain_conn.sendall(b"Connection: close\r\n\r\n")
    data, closed = _read_all(plain_conn, 5)
    assert _statuses(data) == [b"200", b"200"], data[:300]
    assert closed
