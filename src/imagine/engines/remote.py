"""RemoteEngine: FLUX.1 Kontext [dev] on GPU workers (`imagine gpu serve`) over HTTP.

The gateway never imports torch: it sends the input's bytes to the worker's `/v1/edit`
route (shared-secret bearer token) and reads an NDJSON stream back — progress lines while
the model denoises, then the PNG. Closing the stream (client gone, deadline) makes the
worker stop its denoising loop. Unreachable before acceptance → UpstreamOutage (failover
may try the next engine); a broken stream after acceptance → 502; not done within
`timeout` (IMAGINE_GPU_WORKER_TIMEOUT, the whole edit) → 504.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import httpx
import structlog
from PIL import Image
from pydantic import SecretStr

from imagine.engines.base import EditOptions, EditResult, release_source
from imagine.engines.limiter import UpstreamQueueFull
from imagine.engines.payload import encode_base64, validate_result_bytes
from imagine.engines.upstream import UpstreamOutage
from imagine.errors import UpstreamFailed, UpstreamTimeout, UpstreamUnavailable

log = structlog.get_logger(__name__)

EDIT_PATH = "/v1/edit"


def build_worker_client(timeout: float) -> httpx.AsyncClient:
    """The client for GPU workers (operator-configured hosts, so not the SSRF-guarded one):
    a short connect timeout, and `timeout` between two bytes (RemoteEngine also bounds the
    whole edit by it)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=5.0),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        trust_env=False,
    )


class RemoteEngine:
    """Calls one GPU worker URL (a Ray Serve route or a single `--no-ray` worker)."""

    uses_source = True

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        token: SecretStr,
        timeout: float,
        name: str = "remote",
    ) -> None:
        self.http = http
        self.url = base_url.rstrip("/") + EDIT_PATH
        self.token = token
        self.timeout = timeout
        self.name = name

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        """Send the edit, follow its progress, return the worker's PNG bytes as they are."""
        if options.source is not None:
            encoded = base64.b64encode(options.source.data).decode("ascii")
        else:
            encoded = await encode_base64(image)
        body = {
            "prompt": prompt,
            "model": options.model,
            "aspect_ratio": options.aspect_ratio,
            "seed": options.seed,
            "image": encoded,
        }
        del encoded
        headers = {"Authorization": f"Bearer {self.token.get_secret_value()}"}
        try:
            # The whole edit within `timeout` (progress lines keep every single read short):
            # leaving the stream closes the connection, which stops the worker's loop.
            with anyio.fail_after(self.timeout):
                async with self.http.stream(
                    "POST", self.url, json=body, headers=headers, timeout=self.timeout
                ) as response:
                    if response.status_code != 200:
                        await response.aread()
                        raise _refused(response)
                    return await self._read_stream(response, options)
        except TimeoutError as exc:
            log.warning("GPU worker edit past its deadline", engine=self.name, seconds=self.timeout)
            raise UpstreamTimeout(
                f"The GPU worker did not finish within {self.timeout:g} s"
            ) from exc
        except httpx.ConnectError as exc:
            log.warning("GPU worker unreachable", engine=self.name, error=type(exc).__name__)
            raise UpstreamOutage() from exc
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(
                f"The GPU worker did not finish within {self.timeout:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            log.warning("GPU worker failed mid-edit", engine=self.name, error=type(exc).__name__)
            raise UpstreamFailed("The GPU worker failed during the edit") from exc

    async def _read_stream(self, response: httpx.Response, options: EditOptions) -> EditResult:
        accepted = False
        async for line in response.aiter_lines():
            if not line.strip():
                continue
            event = _parse(line)
            if event.get("accepted"):
                # The edit holds a GPU now: no failover after this, the input can go.
                accepted = True
                release_source(options)
            elif "progress" in event:
                if options.progress is not None:
                    options.progress(float(event["progress"]))
            elif "error" in event:
                raise _error(event["error"], accepted)
            elif "image" in event:
                data = base64.b64decode(event["image"], validate=True)
                info = await validate_result_bytes(data)
                warnings = [str(w) for w in event.get("warnings", [])]
                return EditResult(
                    data=data, format=info.format, warnings=warnings, engine=self.name
                )
        raise UpstreamFailed("The GPU worker ended the edit without an image")


def _parse(line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError as exc:
        raise UpstreamFailed("The GPU worker sent an unreadable answer") from exc
    if not isinstance(event, dict):
        raise UpstreamFailed("The GPU worker sent an unreadable answer")
    return event


def _error(error: object, accepted: bool) -> Exception:
    status = int(error.get("status", 502)) if isinstance(error, dict) else 502
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    if status == 429 and not accepted:
        return UpstreamQueueFull()  # that replica's GPU queue was full: failover may retry
    if status == 504:
        return UpstreamTimeout(message or "The GPU worker did not finish in time")
    return UpstreamFailed(message or "The GPU worker failed")


def _refused(response: httpx.Response) -> Exception:
    """A refusal before the worker accepted the edit: the failover may try elsewhere."""
    status = response.status_code
    if status == 429:
        return UpstreamQueueFull()
    if status in (401, 403):
        log.error("GPU worker refused the token (IMAGINE_GPU_WORKER_TOKEN differs?)")
        return UpstreamUnavailable("The GPU worker refused this gateway")
    if status >= 500:
        return UpstreamOutage()
    return UpstreamFailed(f"The GPU worker refused the edit ({status})")
