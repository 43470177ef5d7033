"""Download an input image: data URIs locally, http(s) through the guarded client."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import anyio
import httpx

from imagine.errors import ImageRejected
from imagine.fetch.data_uri import decode_data_uri, is_data_uri
from imagine.fetch.policy import AddressPolicy


class ImageFetcher:
    """Fetches `image_url` values with a size cap, a deadline and the address policy."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: AddressPolicy,
        *,
        max_bytes: int,
        deadline: float,
        max_redirects: int,
    ) -> None:
        self._client = client
        self._policy = policy
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._max_redirects = max_redirects

    async def fetch(self, url: str) -> bytes:
        """The bytes behind `url`, or ImageRejected naming the reason."""
        if is_data_uri(url):
            return decode_data_uri(url, max_bytes=self._max_bytes)
        try:
            with anyio.fail_after(self._deadline):
                return await self._fetch_http(url)
        except TimeoutError as exc:
            raise ImageRejected("image_url could not be fetched: timed out") from exc

    async def _fetch_http(self, url: str) -> bytes:
        for _hop in range(self._max_redirects + 1):
            await self._check_url(url)
            try:
                async with self._client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise ImageRejected(
                            f"image_url could not be fetched: HTTP {response.status_code}"
                        )
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > self._max_bytes:
                        raise ImageRejected(f"image_url is larger than {self._max_bytes} bytes")
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > self._max_bytes:
                            raise ImageRejected(f"image_url is larger than {self._max_bytes} bytes")
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.HTTPError as exc:
                raise ImageRejected(
                    f"image_url could not be fetched: {type(exc).__name__}"
                ) from exc
        raise ImageRejected("image_url could not be fetched: too many redirects")

    async def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImageRejected("image_url must be an http(s) URL or a data:image URI")
        host = parts.hostname
        if self._policy.host_allowed(host):
            return
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise ImageRejected("image_url could not be fetched: host not found") from exc
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses or not all(self._policy.address_allowed(a) for a in addresses):
            raise ImageRejected(
                "image_url points at a private or reserved address (see IMAGINE_FETCH_ALLOW)"
            )
