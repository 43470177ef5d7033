"""Domain errors, each carrying its HTTP status, mapped to the contract's body in one place."""

from __future__ import annotations


class ImagineError(Exception):
    """Base of every error that maps to a contract response."""

    status: int = 500

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages: list[str] = list(messages)

    def body(self) -> dict[str, object]:
        """The contract's error body for this error."""
        if not self.messages:
            return {}
        return {"errors": [{"msg": m} for m in self.messages]}


class ValidationFailed(ImagineError):
    """400: one message per problem, each naming the field."""

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


class RateLimited(ImagineError):
    """429: the account's concurrency limit is full."""

    status = 429

    def __init__(self) -> None:
        super().__init__("Rate limit exceeded")


class TaskFailed(ImagineError):
    """An admitted task that failed; the response carries its task_id."""

    status = 502

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class ImageRejected(TaskFailed):
    """The input image could not be fetched, decoded or accepted (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400)


class ContentPolicyViolation(TaskFailed):
    """The engine refused the request on content grounds (422); final, never retried."""

    def __init__(self) -> None:
        super().__init__("Content policy violation", 422)


class UpstreamFailed(TaskFailed):
    """The engine's upstream failed (502)."""

    def __init__(self, message: str = "Upstream engine failed") -> None:
        super().__init__(message, 502)


class UpstreamUnavailable(TaskFailed):
    """No engine can serve the model right now (503)."""

    def __init__(self, message: str = "Model temporarily unavailable") -> None:
        super().__init__(message, 503)


class UpstreamTimeout(TaskFailed):
    """The engine did not finish before the deadline (504)."""

    def __init__(self, message: str = "Upstream engine timed out") -> None:
        super().__init__(message, 504)
