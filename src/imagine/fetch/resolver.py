"""Name resolution for outbound requests: one lookup per connection, with a timeout."""

from __future__ import annotations

import ipaddress
import socket
from typing import Protocol

import anyio

from imagine.fetch.addresses import IPAddress


class ResolveFailed(OSError):
    """The host name has no usable address."""


class Resolver(Protocol):
    """Turns a host name into its addresses (A and AAAA)."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address of `host`, or ResolveFailed."""
        ...


class SystemResolver:
    """The operating system's resolver (getaddrinfo), bounded by a timeout."""

    def __init__(self, timeout: float = 5.0) -> None:
        self._timeout = timeout

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address of `host` via getaddrinfo."""
        try:
            with anyio.fail_after(self._timeout):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise ResolveFailed(f"{host} could not be resolved") from exc
        addresses: list[IPAddress] = []
        for info in infos:
            text = str(info[4][0]).split("%", 1)[0]
            address = ipaddress.ip_address(text)
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise ResolveFailed(f"{host} has no addresses")
        return addresses
