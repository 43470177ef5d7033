"""What the SDK raises: one base class, API answers by status, transport failures apart."""

from __future__ import annotations

import json

import httpx

# What a status means when the body carries no message of its own (401 answers `{}`).
_DEFAULT_MESSAGES = {
    400: "Bad request",
    401: "Invalid or missing API key",
    402: "Insufficient credits",
    404: "Not found",
    409: "Conflict: a request with this Idempotency-Key is still in flight",
    410: "Gone: the output has expired",
    413: "Request too large",
    422: "Unprocessable request",
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Upstream failure",
    503: "Service unavailable",
    504: "Upstream timeout",
}


class ImagineError(Exception):
    """Anything the SDK raises on purpose."""


class ImagineAPIError(ImagineError):
    """The service answered with a non-2xx status (the contract's error shape)."""

    def __init__(
        self,
        status: int,
        messages: list[str],
        *,
        task_id: str | None = None,
        retry_after: float | None = None,
        body: object = None,
    ) -> None:
        self.status = status
        self.messages = messages
        self.task_id = task_id
        self.retry_after = retry_after
        self.body = body
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One line: the status and every message (and the task, when one was admitted)."""
        text = f"{self.status} " + "; ".join(self.messages)
        return f"{text} (task {self.task_id})" if self.task_id else text


class BadRequestError(ImagineAPIError):
    """400: validation failed, or the image could not be fetched or decoded."""


class AuthenticationError(ImagineAPIError):
    """401: the API key is missing, unknown or revoked."""


class InsufficientCreditsError(ImagineAPIError):
    """402: the balance is below the model's price."""


class NotFoundError(ImagineAPIError):
    """404 (and 410 for an expired output): unknown task, route or file."""


class ConflictError(ImagineAPIError):
    """409: the same Idempotency-Key is still being processed."""


class UnprocessableError(ImagineAPIError):
    """422: content policy, or an Idempotency-Key reused with another body."""


class RateLimitError(ImagineAPIError):
    """429: the key's concurrency limit is full (see `retry_after`)."""


class ServerError(ImagineAPIError):
    """5xx: a bug (500), an upstream failure (502), unavailable (503), too slow (504)."""


class TaskFailedError(ImagineError):
    """A task polled to its end finished as `failed` (it cost nothing)."""

    def __init__(self, task_id: str, error: str | None) -> None:
        self.task_id = task_id
        self.messages = [error or "Task failed"]
        super().__init__(f"task {task_id} failed: {self.messages[0]}")


class ImagineConnectionError(ImagineError):
    """The service could not be reached, or the connection broke.

    For an edit, `idempotency_key` is the key it was sent with: the server may have the edit
    in hand, and sending it again with that key returns its outcome without a second charge.
    """

    def __init__(
        self, message: str, *, task_id: str | None = None, idempotency_key: str | None = None
    ) -> None:
        self.task_id = task_id
        self.idempotency_key = idempotency_key
        super().__init__(message)


class ImagineTimeoutError(ImagineConnectionError):
    """A request (or a wait for a task) ran past its timeout."""


_BY_STATUS: dict[int, type[ImagineAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    404: NotFoundError,
    409: ConflictError,
    410: NotFoundError,
    422: UnprocessableError,
    429: RateLimitError,
}


def api_error(response: httpx.Response, retry_after: float | None = None) -> ImagineAPIError:
    """The exception for a non-2xx response (its body already read)."""
    status = response.status_code
    body: object = None
    messages: list[str] = []
    task_id: str | None = None
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = response.text.strip()
        if text:
            messages.append(text[:200])
    if isinstance(body, dict):
        for item in body.get("errors") or []:
            if isinstance(item, dict) and isinstance(item.get("msg"), str):
                messages.append(item["msg"])
        detail = body.get("detail")  # FastAPI's own shape, e.g. a proxy in front of us
        if not messages and isinstance(detail, str):
            messages.append(detail)
        if isinstance(body.get("task_id"), str):
            task_id = body["task_id"]
    if not messages:
        messages.append(_DEFAULT_MESSAGES.get(status, response.reason_phrase or "Error"))
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ImagineAPIError)
    return cls(status, messages, task_id=task_id, retry_after=retry_after, body=body)


def transport_error(exc: httpx.HTTPError, what: str) -> ImagineConnectionError:
    """The SDK's exception for an httpx transport failure during `what`."""
    if isinstance(exc, httpx.TimeoutException):
        return ImagineTimeoutError(f"{what}: timed out ({type(exc).__name__})")
    return ImagineConnectionError(f"{what}: {type(exc).__name__}: {exc}".rstrip(": "))
