"""Typed results: plain dataclasses read leniently from the contract's JSON (extra fields
are kept in `raw`, so a newer server never breaks an older SDK)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TERMINAL = frozenset({"finished", "failed"})


def _str(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return value if isinstance(value, str) else default


def _opt_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _int(data: dict[str, Any], key: str, default: int = 0) -> int:
    value = data.get(key)
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return default
    return default


def _strs(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


@dataclass(frozen=True)
class Account:
    """GET /api/v1/account."""

    email: str
    credits: int
    total_images: int
    plan: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Account:
        """Read the response body."""
        return cls(
            email=_str(data, "email"),
            credits=_int(data, "credits"),
            total_images=_int(data, "total_images"),
            plan=_str(data, "plan"),
            raw=data,
        )


@dataclass(frozen=True)
class Model:
    """One entry of GET /api/v1/models."""

    id: str
    credits: int
    kind: str = ""
    requires_image: bool = True
    available: bool = True
    engines: list[str] = field(default_factory=list)
    description: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Model:
        """Read one catalog entry."""
        return cls(
            id=_str(data, "id"),
            credits=_int(data, "credits"),
            kind=_str(data, "kind"),
            requires_image=data.get("requires_image") is not False,
            available=data.get("available") is not False,
            engines=_strs(data, "engines"),
            description=_str(data, "description"),
            raw=data,
        )


@dataclass(frozen=True)
class Task:
    """A task as /fetch, /fetch-many and an accepted async edit (202) show it."""

    task_id: str
    status: str
    percentage: int = 0
    model: str | None = None
    task_type: str | None = None
    image_url: str | None = None
    error: str | None = None
    engine: str | None = None
    warnings: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        """Finished or failed: it will not change any more."""
        return self.status in TERMINAL

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        """Read a task object (percentage is a string in the contract)."""
        status = _str(data, "status", "pending")
        default_pct = 100 if status == "finished" else 0
        return cls(
            task_id=_str(data, "task_id"),
            status=status,
            percentage=max(0, min(100, _int(data, "percentage", default_pct))),
            model=_opt_str(data, "model"),
            task_type=_opt_str(data, "task_type"),
            image_url=_opt_str(data, "image_url"),
            error=_opt_str(data, "error"),
            engine=_opt_str(data, "engine"),
            warnings=_strs(data, "warnings"),
            applied=_strs(data, "applied"),
            raw=data,
        )


@dataclass(frozen=True)
class Upload:
    """POST /api/v1/uploads: a stored input image, usable as `image_url` by its account."""

    upload_id: str
    image_url: str
    expires_at: str | None = None
    width: int | None = None
    height: int | None = None
    content_type: str | None = None
    bytes: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Upload:
        """Read the 201 body."""
        return cls(
            upload_id=_str(data, "upload_id"),
            image_url=_str(data, "image_url"),
            expires_at=_opt_str(data, "expires_at"),
            width=_int(data, "width") if "width" in data else None,
            height=_int(data, "height") if "height" in data else None,
            content_type=_opt_str(data, "content_type"),
            bytes=_int(data, "bytes") if "bytes" in data else None,
            raw=data,
        )


@dataclass(frozen=True)
class Progress:
    """One step of an edit, for `on_progress` callbacks.

    `stage` is `upload` (sending a local image), `submit` (the edit request is on its way), a
    task status (`staged`, `pending`, `starting`, `processing`, `finished`, `failed`), or
    `download` (the client is fetching the output).
    """

    stage: str
    percentage: int | None = None
    task_id: str | None = None


@dataclass(frozen=True)
class EditData:
    """A finished edit: what POST /api/v1/imagine answered (or the polled task, finished)."""

    task_id: str
    image_url: str
    status: str = "finished"
    model: str | None = None
    credits_used: int | None = None
    warnings: list[str] = field(default_factory=list)
    engine: str | None = None
    applied: list[str] = field(default_factory=list)
    idempotency_key: str | None = None
    replayed: bool = False  # the server answered from its Idempotency-Key record
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(
        cls,
        data: dict[str, Any],
        *,
        model: str | None,
        idempotency_key: str | None,
        replayed: bool = False,
    ) -> EditData:
        """Read a 200 body of /imagine (the model is the one asked for, unless it says)."""
        return cls(
            task_id=_str(data, "task_id"),
            image_url=_str(data, "image_url"),
            status=_str(data, "status", "finished"),
            model=_opt_str(data, "model") or model,
            credits_used=_int(data, "credits_used") if "credits_used" in data else None,
            warnings=_strs(data, "warnings"),
            engine=_opt_str(data, "engine"),
            applied=_strs(data, "applied"),
            idempotency_key=idempotency_key,
            replayed=replayed,
            raw=data,
        )

    @classmethod
    def from_task(cls, task: Task, *, idempotency_key: str | None) -> EditData:
        """A finished task seen through /fetch."""
        return cls(
            task_id=task.task_id,
            image_url=task.image_url or "",
            status=task.status,
            model=task.model,
            credits_used=_int(task.raw, "credits_used") if "credits_used" in task.raw else None,
            warnings=task.warnings,
            engine=task.engine,
            applied=task.applied,
            idempotency_key=idempotency_key,
            raw=task.raw,
        )
