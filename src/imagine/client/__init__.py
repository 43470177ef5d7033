"""Python SDK of the imagine API: `Imagine` (blocking) and `AsyncImagine` (asyncio).

Needs only httpx; imports no server code.

    from imagine.client import Imagine

    with Imagine("http://127.0.0.1:8000", api_key) as client:
        result = client.edit("car.jpg", "make the car matte black")
        result.save("car-black.png")
"""

from imagine.client.aio import AsyncEditResult, AsyncImagine
from imagine.client.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ImagineAPIError,
    ImagineConnectionError,
    ImagineError,
    ImagineTimeoutError,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TaskFailedError,
    UnprocessableError,
)
from imagine.client.sync import EditResult, Imagine
from imagine.client.types import Account, Model, Progress, Task, Upload

__all__ = [
    "Account",
    "AsyncEditResult",
    "AsyncImagine",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "EditResult",
    "Imagine",
    "ImagineAPIError",
    "ImagineConnectionError",
    "ImagineError",
    "ImagineTimeoutError",
    "InsufficientCreditsError",
    "Model",
    "NotFoundError",
    "Progress",
    "RateLimitError",
    "ServerError",
    "Task",
    "TaskFailedError",
    "UnprocessableError",
    "Upload",
]
