"""`Imagine`: the blocking client (an httpx.Client driving the shared flows)."""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, overload

import httpx

from imagine.client import inputs
from imagine.client.downloads import Download, target_path
from imagine.client.errors import api_error, transport_error
from imagine.client.flows import (
    Call,
    Flow,
    Operations,
    Pause,
    ProgressCallback,
    T,
    edit_body,
)
from imagine.client.inputs import ImageSource
from imagine.client.types import Account, EditData, Model, Task, Upload

DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
DEFAULT_DOWNLOAD_TIMEOUT = httpx.Timeout(120.0, connect=10.0)

ByteProgress = Callable[[int, int | None], object]


def drive(flow: Flow[T], http: httpx.Client) -> T:
    """Run a flow to its end with blocking I/O."""
    reply: httpx.Response | None = None
    error: httpx.HTTPError | None = None
    while True:
        try:
            action = flow.throw(error) if error is not None else flow.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        reply, error = None, None
        if isinstance(action, Pause):
            time.sleep(action.seconds)
            continue
        try:
            reply = _send(http, action)
        except httpx.HTTPError as exc:
            error = exc


def _send(http: httpx.Client, call: Call) -> httpx.Response:
    request = http.build_request(
        call.method,
        call.url,
        headers=call.headers,
        json=call.json,
        content=call.content,
        files=call.files,
        timeout=call.timeout if call.timeout is not None else http.timeout,
    )
    response = http.send(request)
    response.read()
    return response


@dataclass(frozen=True)
class EditResult(EditData):
    """A finished edit; `save()` / `bytes()` download its output."""

    _http: httpx.Client | None = field(default=None, repr=False, compare=False)

    def bytes(self, *, timeout: float | None = None) -> builtins.bytes:
        """The output image's bytes."""
        with self._stream(timeout) as download:
            return b"".join(download.response.iter_bytes())

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float | None = None,
        on_bytes: ByteProgress | None = None,
    ) -> Path:
        """Download the output to `path` (a directory keeps the server's file name); the file
        appears whole or not at all. Returns the path written."""
        target = target_path(Path(path), self.image_url)
        with self._stream(timeout) as download, download.writer(target) as out:
            for chunk in download.response.iter_bytes():
                out.write(chunk)
                if on_bytes is not None:
                    on_bytes(out.written, download.total)
        return target

    def _stream(self, timeout: float | None) -> _SyncDownload:
        if self._http is None:
            raise RuntimeError("this result has no client to download with")
        return _SyncDownload(self._http, self.image_url, timeout)


class _SyncDownload:
    """GET the output (no API key: the file URL may be on another host), streamed."""

    def __init__(self, http: httpx.Client, url: str, timeout: float | None) -> None:
        self._http, self._url, self._timeout = http, url, timeout
        self._response: httpx.Response | None = None

    def __enter__(self) -> Download:
        timeout = self._timeout if self._timeout is not None else DEFAULT_DOWNLOAD_TIMEOUT
        try:
            request = self._http.build_request("GET", self._url, timeout=timeout)
            self._response = self._http.send(request, stream=True, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise transport_error(exc, "download") from exc
        if not self._response.is_success:
            self._response.read()
            self._response.close()
            raise api_error(self._response)
        return Download(self._response)

    def __exit__(self, *exc: object) -> None:
        if self._response is not None:
            self._response.close()


class Imagine:
    """Blocking client of an imagine server: `Imagine(base_url, api_key)`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._ops = Operations(base_url, api_key, max_retries=max_retries)
        self._own_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        """Close the connection pool (unless the caller passed its own client)."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> Imagine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, flow: Flow[T]) -> T:
        try:
            return drive(flow, self._http)
        finally:
            flow.close()

    def account(self) -> Account:
        """The account of this key: email, credits, total_images, plan."""
        return self._run(self._ops.account())

    def models(self) -> list[Model]:
        """The catalog: model ids, prices, availability."""
        return self._run(self._ops.models())

    def fetch(self, task_id: str) -> Task:
        """One task (free)."""
        return self._run(self._ops.fetch(task_id))

    def fetch_many(self, task_ids: list[str]) -> list[Task]:
        """2 to 20 tasks (free); unknown ids are left out."""
        return self._run(self._ops.fetch_many(task_ids))

    def wait(
        self,
        task_id: str,
        timeout: float | None = 600.0,
        on_progress: ProgressCallback | None = None,
    ) -> EditResult:
        """Poll until the task finishes; TaskFailedError if it fails, ImagineTimeoutError
        after `timeout` seconds."""
        task = self._run(self._ops.wait(task_id, timeout, on_progress))
        return self._result(EditData.from_task(task, idempotency_key=None))

    def upload(self, image: bytes | str | os.PathLike[str]) -> Upload:
        """Store a local image (bytes or a path) on the server; its `image_url` can be edited
        by this account."""
        return self._run(self._ops.upload(self._local(image)))

    @overload
    def edit(
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
    ) -> EditResult: ...

    @overload
    def edit(
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

    def edit(
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
    ) -> EditResult | Task:
        """Edit `image` (a path, bytes, an http(s) URL or a data URI) as `prompt` says.

        `wait=True` returns the finished EditResult (polling with `on_progress` callbacks
        when one is given); `wait=False` returns the accepted Task at once. Local images are
        uploaded first. Every call carries an Idempotency-Key (yours or a fresh one), reused
        on retries, so a retry is never charged twice.
        """
        url = None
        if image is not None:
            url = image if inputs.is_url(image) else None
            if url is None:
                local = self._local(image)
                url = self._run(self._ops.image_url(local, on_progress))
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
        outcome = self._run(
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

    def _local(self, image: Any) -> inputs.LocalImage:
        if isinstance(image, bytes | bytearray | memoryview):
            return inputs.from_bytes(image)
        return inputs.from_path(inputs.local_path(image))

    def _result(self, data: EditData) -> EditResult:
        fields = {name: getattr(data, name) for name in data.__dataclass_fields__}
        return EditResult(**fields, _http=self._http)
