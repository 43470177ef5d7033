"""Response body of POST /api/v1/uploads."""

from __future__ import annotations

from pydantic import BaseModel, Field


class UploadResponse(BaseModel):
    """A stored upload: pass `image_url` to /imagine (same account) until `expires_at`."""

    upload_id: str
    image_url: str
    expires_at: str = Field(description="ISO 8601 UTC, e.g. 2026-12-01T18:00:00Z")
    width: int
    height: int
    content_type: str
    bytes: int
