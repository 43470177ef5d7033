"""Fakes at the network edge: a resolver we control and a socket layer that records dials.

`RecordingBackend` only ever opens sockets to 127.0.0.0/8; any other address is recorded
and refused, so a broken guard still cannot send a packet off this machine.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import httpcore
import httpx
from httpcore._backends.auto import AutoBackend

from imagine.fetch.addresses import IPAddress
from imagine.fetch.client import build_outbound_client
from imagine.fetch.images import ImageFetcher
from imagine.fetch.policy import AddressPolicy
from imagine.fetch.resolver import ResolveFailed
from imagine.settings import Settings

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


@dataclass
class StaticResolver:
    """Answers from a table; each host may get a sequence of answers (DNS rebinding)."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def set(self, host: str, *answers: list[str]) -> None:
        """Answer `host` with `answers[0]`, then `answers[1]`, … (the last one repeats)."""
        self.answers[host] = list(answers)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The next scripted answer for `host`; unknown names do not resolve."""
        self.lookups.append(host)
        queue = self.answers.get(host)
        if not queue:
            raise ResolveFailed(f"{host} not in the stub resolver")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return [ipaddress.ip_address(a) for a in answer]


@dataclass
class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Records every address the guard asks to dial; dials only loopback ones."""

    dialled: list[tuple[str, int]] = field(default_factory=list)
    real: AutoBackend = field(default_factory=AutoBackend)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[object] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append((host, port))
        if ipaddress.ip_address(host) not in LOOPBACK:
            raise httpcore.ConnectError(f"stub: would have dialled {host}:{port}")
        return await self.real.connect_tcp(host, port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self.real.sleep(seconds)


@dataclass
class Guarded:
    """The production client and fetcher over the stubs."""

    client: httpx.AsyncClient
    fetcher: ImageFetcher
    resolver: StaticResolver
    backend: RecordingBackend
    settings: Settings


def guarded(settings: Settings, **client_kwargs: object) -> Guarded:
    """Build the real outbound client over a stub resolver and a recording socket layer."""
    resolver = StaticResolver()
    backend = RecordingBackend()
    client = build_outbound_client(
        settings,
        resolver=resolver,
        network_backend=backend,
        **client_kwargs,  # type: ignore[arg-type]
    )
    fetcher = ImageFetcher(
        client,
        AddressPolicy.from_allow_list(settings.fetch_allow),
        max_bytes=settings.fetch_max_bytes,
        deadline=settings.fetch_deadline,
        max_redirects=settings.fetch_max_redirects,
    )
    return Guarded(client, fetcher, resolver, backend, settings)


class RawServer:
    """A TCP server on loopback whose handler writes raw bytes (drips, floods, bad headers)."""

    def __init__(self, handler: Callable[[socket.socket], None], host: str = "127.0.0.1") -> None:
        self.connections = 0
        self._handler = handler
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base(self) -> str:
        """Base URL."""
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        """Listening port."""
        return int(self._sock.getsockname()[1])

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with conn, suppress(OSError):
            conn.settimeout(10)
            conn.recv(65536)
            self._handler(conn)

    def stop(self) -> None:
        """Stop accepting."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@contextmanager
def raw_server(
    handler: Callable[[socket.socket], None], host: str = "127.0.0.1"
) -> Iterator[RawServer]:
    """A running RawServer."""
    server = RawServer(handler, host)
    server._thread.start()
    try:
        yield server
    finally:
        server.stop()
