"""The SDK's logic, written once for both clients (sans-I/O).

Each operation is a generator that yields what it needs done — send an HTTP request
(`Call`) or wait (`Pause`) — and gets the response back; `Imagine` drives it with a blocking
httpx.Client, `AsyncImagine` with an httpx.AsyncClient. Retries, Idempotency-Keys, polling
and error mapping therefore behave the same in both.
"""

from __future__ import annotations

import email.utils
import hashlib
import random
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

import httpx

from imagine.client.errors import (
    ImagineAPIError,
    ImagineConnectionError,
    ImagineTimeoutError,
    TaskFailedError,
    api_error,
    transport_error,
)
from imagine.client.inputs import LocalImage
from imagine.client.types import Account, EditData, Model, Progress, Task, Upload

T = TypeVar("T")

ProgressCallback = Callable[[Progress], object]

# Never wait longer than this on one Retry-After: a longer one is raised to the caller.
MAX_RETRY_AFTER = 20.0
# Uploads a client remembers by content, and how long one must still live to be reused.
UPLOADS_REMEMBERED = 64
UPLOAD_MARGIN = 300.0  # seconds
# Polling: start fast (most offline edits finish in a second), then back off.
POLL_FIRST = 0.25
POLL_MAX = 2.0


@dataclass(frozen=True)
class Call:
    """An HTTP request the driver sends; it answers with the response, or throws httpx's
    transport error into the flow."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    timeout: float | None = None  # None: the client's own


@dataclass(frozen=True)
class Pause:
    """Sleep this long (time.sleep or asyncio.sleep, as the driver goes)."""

    seconds: float


Action = Call | Pause
Flow = Generator[Action, httpx.Response | None, T]


class Retry(Enum):
    """When a request may be sent again."""

    # Creating things (edits, uploads): only when the request surely never reached the
    # server (it could not connect), or the server said "not now" with a Retry-After.
    UNSENT = "unsent"
    # Free reads (fetch, account, models): any transport error or busy answer.
    READ = "read"


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_READ_RETRY_STATUS = frozenset({429, 502, 503, 504})


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), or None when absent/invalid."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _lifetime(upload: Upload, response: httpx.Response) -> float:
    """Seconds the upload has left, by the server's own clock (its Date header): immune to
    skew between this machine's clock and the server's. 0 when unknown."""
    try:
        expires = datetime.fromisoformat((upload.expires_at or "").replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    try:
        server_now = email.utils.parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError):
        server_now = datetime.now(UTC)
    if server_now.tzinfo is None:
        server_now = server_now.replace(tzinfo=UTC)
    return max(0.0, (expires - server_now).total_seconds())


class Operations:
    """Every operation of the API as a flow, for one base URL and key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        max_retries: int = 2,
        backoff: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if not base_url.lower().startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL: {base_url!r}")
        if not api_key:
            raise ValueError("api_key is required")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self._auth = {"Authorization": api_key}
        self.max_retries = max_retries
        self._backoff = backoff
        self._rng = rng or random.Random()
        # None until the first upload tells whether the server has /api/v1/uploads.
        self.uploads_supported: bool | None = None
        # SHA-256 of the bytes → (upload, monotonic deadline), oldest first
        self._uploaded: dict[str, tuple[Upload, float]] = {}

    # --- plumbing -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/v1/{path}"

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter, capped at 8 s."""
        return float(self._rng.uniform(0, min(8.0, self._backoff * 2**attempt)))

    def send(self, call: Call, retry: Retry, what: str) -> Flow[httpx.Response]:
        """Send `call` (authenticated), retrying only where `retry` makes it safe; a non-2xx
        answer raises the matching ImagineAPIError."""
        call = Call(
            call.method,
            call.url,
            {**self._auth, **call.headers},
            call.json,
            call.content,
            call.files,
            call.timeout,
        )
        attempt = 0
        while True:
            try:
                response = yield call
            except httpx.HTTPError as exc:
                retryable = retry is Retry.READ or isinstance(exc, _NOT_SENT)
                if (
                    not retryable
                    or attempt >= self.max_retries
                    or not isinstance(exc, httpx.TransportError)
                ):
                    raise transport_error(exc, what) from exc
                yield Pause(self._delay(attempt))
                attempt += 1
                continue
            assert response is not None
            if response.is_success:
                return response
            wait = retry_after_seconds(response)
            keyed = "Idempotency-Key" in call.headers
            if self._may_retry(response, retry, wait, keyed) and attempt < self.max_retries:
                yield Pause(wait if wait is not None else self._delay(attempt))
                attempt += 1
                continue
            raise api_error(response, wait)

    @staticmethod
    def _may_retry(response: httpx.Response, retry: Retry, wait: float | None, keyed: bool) -> bool:
        if response.headers.get("idempotent-replayed", "").lower() == "true":
            return False  # a recorded outcome: asking again only replays it
        if wait is not None and wait > MAX_RETRY_AFTER:
            return False
        status = response.status_code
        if retry is Retry.READ:
            return status in _READ_RETRY_STATUS
        # 429/503 say "not now" (nothing was done); 409 says this Idempotency-Key's first
        # request is still running, so asking again with it waits for that one's outcome.
        return wait is not None and (status in (429, 503) or (status == 409 and keyed))

    def _json(self, call: Call, retry: Retry, what: str) -> Flow[dict[str, Any]]:
        response = yield from self.send(call, retry, what)
        return json_object(response, what)

    # --- reads ----------------------------------------------------------------------------

    def account(self) -> Flow[Account]:
        """GET /api/v1/account."""
        body = yield from self._json(Call("GET", self._url("account")), Retry.READ, "account")
        return Account.from_json(body)

    def models(self) -> Flow[list[Model]]:
        """GET /api/v1/models."""
        body = yield from self._json(Call("GET", self._url("models")), Retry.READ, "models")
        entries = body.get("models")
        return [Model.from_json(m) for m in entries or [] if isinstance(m, dict)]

    def fetch(self, task_id: str) -> Flow[Task]:
        """POST /api/v1/fetch."""
        call = Call("POST", self._url("fetch"), json={"task_id": task_id})
        body = yield from self._json(call, Retry.READ, "fetch")
        return Task.from_json(body)

    def fetch_many(self, task_ids: list[str]) -> Flow[list[Task]]:
        """POST /api/v1/fetch-many (2 to 20 ids; unknown ones are left out)."""
        call = Call("POST", self._url("fetch-many"), json={"task_ids": list(task_ids)})
        body = yield from self._json(call, Retry.READ, "fetch-many")
        return [Task.from_json(t) for t in body.get("tasks") or [] if isinstance(t, dict)]

    def wait(
        self,
        task_id: str,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        *,
        first: Task | None = None,
    ) -> Flow[Task]:
        """Poll /fetch until the task is finished (returned) or failed (TaskFailedError);
        ImagineTimeoutError after `timeout` seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = POLL_FIRST
        seen: tuple[str, int] | None = None
        task = first
        while True:
            if task is None:
                task = yield from self.fetch(task_id)
            if on_progress is not None and (task.status, task.percentage) != seen:
                seen = (task.status, task.percentage)
                on_progress(Progress(task.status, task.percentage, task.task_id))
            if task.status == "finished":
                return task
            if task.status == "failed":
                raise TaskFailedError(task.task_id, task.error)
            if deadline is not None and time.monotonic() + interval > deadline:
                raise ImagineTimeoutError(
                    f"task {task_id} still {task.status} after {timeout:g} s", task_id=task_id
                )
            yield Pause(interval)
            interval = min(POLL_MAX, interval * 1.5)
            task = None

    # --- creating things -----------------------------------------------------------------

    def upload(self, image: LocalImage) -> Flow[Upload]:
        """POST /api/v1/uploads (multipart field `file`)."""
        call = Call(
            "POST",
            self._url("uploads"),
            files={"file": (image.filename, image.data, image.content_type)},
        )
        response = yield from self.send(call, Retry.UNSENT, "upload")
        self.uploads_supported = True
        upload = Upload.from_json(json_object(response, "upload"))
        digest = hashlib.sha256(image.data).hexdigest()
        self._uploaded.pop(digest, None)
        self._uploaded[digest] = (upload, time.monotonic() + _lifetime(upload, response))
        while len(self._uploaded) > UPLOADS_REMEMBERED:
            self._uploaded.pop(next(iter(self._uploaded)))
        return upload

    def image_url(self, image: LocalImage, on_progress: ProgressCallback | None) -> Flow[str]:
        """A URL the server takes for local bytes: an upload, or a data URI from a server
        that has no /uploads (it answered 404/405 once; not asked again)."""
        if self.uploads_supported is False:
            return image.data_uri()
        # The same bytes again (a retry with the caller's Idempotency-Key, a second prompt on
        # one photo) reuse the live upload: the request body stays the same, nothing is resent.
        known = self._uploaded.get(hashlib.sha256(image.data).hexdigest())
        if known is not None and known[1] - time.monotonic() > UPLOAD_MARGIN:
            return known[0].image_url
        if on_progress is not None:
            on_progress(Progress("upload"))
        try:
            uploaded = yield from self.upload(image)
        except ImagineAPIError as exc:
            if exc.status in (404, 405) and self.uploads_supported is not True:
                self.uploads_supported = False
                return image.data_uri()
            raise
        return uploaded.image_url

    def edit(
        self,
        body: dict[str, Any],
        *,
        wait: bool,
        idempotency_key: str | None,
        on_progress: ProgressCallback | None,
        timeout: float | None,
    ) -> Flow[EditData | Task]:
        """POST /api/v1/imagine with an Idempotency-Key (one per logical edit, the same on
        every retry): synchronous when `wait` and no progress is wanted, else async mode
        (`Prefer: respond-async`), polled when `wait`. A server without async mode answers
        synchronously; that is taken as it comes."""
        key = idempotency_key or str(uuid.uuid4())
        headers = {"Idempotency-Key": key}
        use_async = not wait or on_progress is not None
        if use_async:
            headers["Prefer"] = "respond-async"
        if on_progress is not None:
            on_progress(Progress("submit"))
        call = Call("POST", self._url("imagine"), headers=headers, json=body)
        try:
            response = yield from self.send(call, Retry.UNSENT, "edit")
        except ImagineConnectionError as exc:
            raise type(exc)(
                f"{exc}; the edit may still run: send it again with idempotency_key={key!r}"
                " to get its outcome without paying twice",
                idempotency_key=key,
            ) from exc
        data = json_object(response, "edit")
        replayed = response.headers.get("idempotent-replayed", "").lower() == "true"
        model = body.get("model")
        if response.status_code != 202 and data.get("status") == "finished":
            result = EditData.from_json(data, model=model, idempotency_key=key, replayed=replayed)
            if on_progress is not None:
                on_progress(Progress("finished", 100, result.task_id))
            if wait:
                return result
            return Task.from_json({"model": model, **data, "percentage": "100"})
        task = Task.from_json({"model": model, **data})
        if not wait:
            if on_progress is not None:
                on_progress(Progress(task.status, task.percentage, task.task_id))
            return task
        done = yield from self.wait(task.task_id, timeout, on_progress, first=task)
        return EditData.from_task(done, idempotency_key=key)


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """A 2xx body that must be a JSON object (anything else is the server's fault)."""
    try:
        body = response.json()
    except ValueError as exc:
        raise ImagineAPIError(response.status_code, [f"{what}: the answer is not JSON"]) from exc
    if not isinstance(body, dict):
        raise ImagineAPIError(response.status_code, [f"{what}: unexpected answer"])
    return body


def edit_body(
    image_url: str | None,
    prompt: str,
    *,
    model: str | None,
    aspect_ratio: str | None,
    seed: int | None,
    output_format: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
) -> dict[str, Any]:
    """The JSON of POST /api/v1/imagine, without the fields left to the server's defaults."""
    body: dict[str, Any] = {"prompt": prompt}
    optional = {
        "image_url": image_url,
        "model": model,
        "aspect_ratio": aspect_ratio,
        "seed": seed,
        "output_format": output_format,
        "webhook_url": webhook_url,
        "webhook_secret": webhook_secret,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body
