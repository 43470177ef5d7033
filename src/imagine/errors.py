"""Domain errors: one shape (status, messages, optional task_id), rendered in one place.

Whether a task was admitted is data, not a class: the pipeline stamps `task_id` on the error
of an admitted task that failed, and the HTTP edge (imagine.http.errors) renders
`{"errors": [{"msg": …}], "task_id": …}` for every `ImagineError` alike.
"""

from __future__ import annotations

from typing import Any


class ImagineError(Exception):
    """Base of every error that maps to a contract response."""

    status: int = 500
    retry_after: int | None = None  # seconds, sent as Retry-After when set

    def __init__(
        self, *messages: str, status: int | None = None, task_id: str | None = None
    ) -> None:
        super().__init__("; ".join(messages))
        self.messages: list[str] = list(messages)
        if status is not None:
            self.status = status
        self.task_id = task_id

    def body(self) -> dict[str, Any]:
        """The contract's body: `{}` without messages, else `errors` (and `task_id`)."""
        body: dict[str, Any] = {}
        if self.messages:
            body["errors"] = [{"msg": m} for m in self.messages]
        if self.task_id is not None:
            body["task_id"] = self.task_id
        return body


class ValidationFailed(ImagineError):
    """400: one message per problem, each naming the field."""

    status = 400


class ImageRejected(ImagineError):
    """400: the input image could not be fetched, decoded or accepted."""

    status = 400


class Unauthorized(ImagineError):
    """401 with body `{}`."""

    status = 401

    def __init__(self) -> None:
        super().__init__()


class InsufficientCredits(ImagineError):
    """402: the balance is below the model's price."""

    status = 402

    def __init__(self) -> None:
        super().__init__("Insufficient credits")


class NotFound(ImagineError):
    """404: unknown (or someone else's) object."""

    status = 404


class Gone(ImagineError):
    """410: the object expired and its bytes are deleted."""

    status = 410


class PayloadTooLarge(ImagineError):
    """413: the request body passed the configured cap."""

    status = 413

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"request body must be at most {max_bytes} bytes")


class ContentPolicyViolation(ImagineError):
    """422: the engine refused the request on content grounds; final, never retried."""

    status = 422

    def __init__(self) -> None:
        super().__init__("Content policy violation")


class RateLimited(ImagineError):
    """429: a concurrency limit is full."""

    status = 429
    retry_after: int | None = 1

    def __init__(self) -> None:
        super().__init__("Rate limit exceeded")


class InternalError(ImagineError):
    """500 with body `{}` (plus the task_id when the task was admitted): a bug."""

    status = 500

    def __init__(self, task_id: str | None = None) -> None:
        super().__init__(task_id=task_id)


class UpstreamFailed(ImagineError):
    """502: the engine's upstream failed."""

    status = 502

    def __init__(self, message: str = "Upstream engine failed") -> None:
        super().__init__(message)


class UpstreamUnavailable(ImagineError):
    """503: no engine can serve the model right now."""

    status = 503

    def __init__(self, message: str = "Model temporarily unavailable") -> None:
        super().__init__(message)


class ServiceBusy(ImagineError):
    """503 with Retry-After: this process is out of a shared resource (database connections)
    for longer than its bounded wait; the client should retry shortly."""

    status = 503
    retry_after: int | None = 1

    def __init__(self, message: str = "Service busy, retry shortly") -> None:
        super().__init__(message)


class UpstreamTimeout(ImagineError):
    """504: the engine did not finish before the deadline."""

    status = 504

    def __init__(self, message: str = "Upstream engine timed out") -> None:
        super().__init__(message)
