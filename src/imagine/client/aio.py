"""`AsyncImagine`: the asyncio client (an httpx.AsyncClient driving the shared flows)."""

from __future__ import annotations

import asyncio
import builtins
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, overload

import httpx

from imagine.client import inputs
from imagine.client.downloads import Download, target_path
from imagine.client.errors import api_error, transport_error
from imagine.client.flows import Call, Flow, Operations, Pause, ProgressCallback, T, edit_body
from imagine.client.inputs import ImageSource
from imagine.client.sync import DEFAULT_DOWNLOAD_TIMEOUT, DEFAULT_TIMEOUT, ByteProgress
from imagine.client.types import Account, EditData, Model, Task, Upload


async def drive(flow: Flow[T], http: httpx.AsyncClient) -> T:
    """Run a flow to its end with asyncio I/O."""
    reply: httpx.Response | None = None
    error: httpx.HTTPError | None = None
    while True:
        try:
            action = flow.throw(error) if error is not None else flow.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        reply, error = None, None
        if isinstance(action, Pause):
            await asyncio.sleep(action.seconds)
            continue
        try:
            reply = await _send(http, action)
        except httpx.HTTPError as exc:
            error = exc


async def _send(http: httpx.AsyncClient, call: Call) -> httpx.Response:
    request = http.build_request(
        call.method,
        call.url,
        headers=call.headers,
        json=call.json,
        content=call.content,
        files=call.files,
        timeout=call.timeout if call.timeout is not None else http.timeout,
    )
    response = await http.send(request)
    await response.aread()
    return response


@dataclass(frozen=True)
class AsyncEditResult(EditData):
    """A finished edit; `await save()` / `await bytes()` download its output."""

    _http: httpx.AsyncClient | None = field(default=None, repr=False, compare=False)

    async def bytes(self, *, timeout: float | None = None) -> builtins.bytes:
        """The output image's bytes."""
        async with self._stream(timeout) as download:
            return b"".join([chunk async for chunk in download.response.aiter_bytes()])

    async def save(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float | None = None,
        on_bytes: ByteProgress | None = None,
    ) -> Path:
        """Download the output to `path` (a directory keeps the server's file name); the file
        appears whole or not at all. Returns the path written."""
        target = target_path(Path(path), self.image_url)
        async with self._stream(timeout) as download:
            # Local disk writes are small and fast next to the network; not worth a thread.
            with download.writer(target) as out:
                async for chunk in download.response.aiter_bytes():
                    out.write(chunk)
                    if on_bytes is not None:
                        on_bytes(out.written, download.total)
        return target

    def _stream(self, timeout: float | None) -> _AsyncDownload:
        if self._http is None:
            raise RuntimeError("this result has no client to download with")
        return _AsyncDownload(self._http, self.image_url, timeout)


class _AsyncDownload:
    """GET the output (no API key: the file URL may be on another host), streamed."""

    def __init__(self, http: httpx.AsyncClient, url: str, timeout: float | None) -> None:
        self._http, self._url, self._timeout = http, url, timeout
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> Download:
        timeout = self._timeout if self._timeout is not None else DEFAULT_DOWNLOAD_TIMEOUT
        try:
            request = self._http.build_request("GET", self._url, timeout=timeout)
            self._response = await self._http.send(request, stream=True, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise transport_error(exc, "download") from exc
        if not self._response.is_success:
            await self._response.aread()
            await self._response.aclose()
            raise api_error(self._response)
        return Download(self._response)

    async def __aexit__(self, *exc: object) -> None:
        if self._response is not None:
            await self._response.aclose()


class AsyncImagine:
    """Asyncio client of an imagine server: `AsyncImagine(base_url, api_key)`; the same
    methods as `Imagine`, awaited."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._ops = Operations(base_url, api_key, max_retries=max_retries)
        self._own_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def aclose(self) -> None:
        """Close the connection pool (unless the caller passed its own client)."""
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncImagine:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, flow: Flow[T]) -> T:
        try:
            return await drive(flow, self._http)
        finally:
            flow.close()

    async def account(self) -> Account:
        """The account of this key: email, credits, total_images, plan."""
        return await self._run(self._ops.account())

    async def models(self) -> list[Model]:
        """The catalog: model ids, prices, availability."""
        return await self._run(self._ops.models())

    async def fetch(self, task_id: str) -> Task:
        """One task (free)."""
        return await self._run(self._ops.fetch(task_id))

    async def fetch_many(self, task_ids: list[str]) -> list[Task]:
        """2 to 20 tasks (free); unknown ids are left out."""
        return await self._run(self._ops.fetch_many(task_ids))

    async def wait(
        self,
        task_id: str,
        timeout: float | None = 600.0,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncEditResult:
        """Poll until the task finishes; TaskFailedError if it fails, ImagineTimeoutError
        after `timeout` seconds."""
        task = await self._run(self._ops.wait(task_id, timeout, on_progress))
        return self._result(EditData.from_task(task, idempotency_key=None))

    async def upload(self, image: bytes | str | os.PathLike[str]) -> Upload:
        """Store a local image (bytes or a path) on the server; its `image_url` can be edited
        by this account."""
        return await self._run(self._ops.upload(await self._local(image)))

    @overload
    async def edit(
        self,
        image: ImageSource | None,
        prompt: str,
        *,
        model: str | None = ...,
        aspect_ratio: str | None = ...,
        seed: int | None = ...,
        output_format: str | None = ...,
        wait: Literal[True] = ...,
        idempotency_key: str | None = ...,
        on_progress: ProgressCallback | None = ...,
        timeout: float | None = ...,
        webhook_url: str | None = ...,
        webhook_secret: str | None = ...,
    ) -> AsyncEditResult: ...

    @overload
    async def edit(
        self,
        image: ImageSource | None,
        prompt: str,
        *,
        model: str | None = ...,
        aspect_ratio: str | None = ...,
        seed: int | None = ...,
        output_format: str | None = ...,
        wait: Literal[False],
        idempotency_key: str | None = ...,
        on_progress: ProgressCallback | None = ...,
        timeout: float | None = ...,
        webhook_url: str | None = ...,
        webhook_secret: str | None = ...,
    ) -> Task: ...

    async def edit(
        self,
        image: ImageSource | None,
        prompt: str,
        *,
        model: str | None = None,
        aspect_ratio: str | None = None,
        seed: int | None = None,
        output_format: str | None = None,
        wait: bool = True,
        idempotency_key: str | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = 600.0,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> AsyncEditResult | Task:
        """Edit `image` as `prompt` says; see `Imagine.edit`."""
        url = None
        if image is not None:
            url = image if inputs.is_url(image) else None
            if url is None:
                local = await self._local(image)
                url = await self._run(self._ops.image_url(local, on_progress))
        assert url is None or isinstance(url, str)
        body = edit_body(
            url,
            prompt,
            model=model,
            aspect_ratio=aspect_ratio,
            seed=seed,
            output_format=output_format,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
        )
        outcome = await self._run(
            self._ops.edit(
                body,
                wait=wait,
                idempotency_key=idempotency_key,
                on_progress=on_progress,
                timeout=timeout,
            )
        )
        if isinstance(outcome, Task):
            return outcome
        return self._result(outcome)

    async def _local(self, image: Any) -> inputs.LocalImage:
        if isinstance(image, bytes | bytearray | memoryview):
            return inputs.from_bytes(image)
        path = inputs.local_path(image)
        return await asyncio.to_thread(inputs.from_path, path)

    def _result(self, data: EditData) -> AsyncEditResult:
        fields = {name: getattr(data, name) for name in data.__dataclass_fields__}
        return AsyncEditResult(**fields, _http=self._http)
