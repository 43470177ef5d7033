"""Download an input image: data URIs locally, http(s) through the guarded client."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import anyio
import httpx

from imagine.errors import ImageRejected
from imagine.fetch.addresses import BadHost, parse_host
from imagine.fetch.data_uri import decode_data_uri, is_data_uri
from imagine.fetch.policy import AddressPolicy, DestinationRefused, refused_message
from imagine.fetch.transport import ResponseTooLarge

REDIRECTS = (301, 302, 303, 307, 308)


def url_refusal(url: str, policy: AddressPolicy, field: str = "image_url") -> str | None:
    """Why `url` is refused without any network (scheme, malformed or private literal host)."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return f"{field} is not a valid URL"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"{field} must be an http(s) URL"
    try:
        host = parse_host(parts.hostname)
    except BadHost as exc:
        return refused_message(field, str(exc), private=False)
    if isinstance(host, str):
        loopback = host == "localhost" or host.endswith(".localhost")
        if loopback and not policy.host_allowed(host):
            return refused_message(field, f"{host} is a loopback name", private=True)
        return None
    reason = policy.refusal(host)
    return None if reason is None else refused_message(field, reason, private=True)


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
        for hop in range(self._max_redirects + 1):
            problem = url_refusal(url, self._policy)
            if problem is not None:
                raise ImageRejected(problem if hop == 0 else f"{problem} (after a redirect)")
            try:
                async with self._client.stream(
                    "GET",
                    url,
                    follow_redirects=False,
                    headers={"accept-encoding": "identity"},
                    extensions={"deadline": self._deadline, "max_bytes": self._max_bytes},
                ) as response:
                    if response.status_code in REDIRECTS and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise ImageRejected(
                            f"image_url could not be fetched: HTTP {response.status_code}"
                        )
                    return await self._read(response)
            except DestinationRefused as exc:
                raise ImageRejected(exc.message("image_url")) from exc
            except ResponseTooLarge as exc:
                raise ImageRejected(f"image_url is larger than {self._max_bytes} bytes") from exc
            except httpx.TimeoutException as exc:
                raise ImageRejected("image_url could not be fetched: timed out") from exc
            except httpx.ConnectError as exc:
                unknown = "could not be resolved" in str(exc)
                reason = "host not found" if unknown else "no connection"
                raise ImageRejected(f"image_url could not be fetched: {reason}") from exc
            except httpx.HTTPError as exc:
                raise ImageRejected(
                    f"image_url could not be fetched: {type(exc).__name__}"
                ) from exc
        raise ImageRejected(
            f"image_url could not be fetched: more than {self._max_redirects} redirects"
        )

    @property
    def policy(self) -> AddressPolicy:
        """The address policy in force (for checks before admission)."""
        return self._policy

    async def _read(self, response: httpx.Response) -> bytes:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            # Compressed bodies could inflate past the cap inside one chunk: refuse them.
            raise ImageRejected(f"image_url uses an unsupported content-encoding: {encoding}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise ImageRejected(f"image_url is larger than {self._max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise ImageRejected(f"image_url is larger than {self._max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
