"""Response bodies of the catalog route."""

from __future__ import annotations

from pydantic import BaseModel


class ModelInfo(BaseModel):
    """One catalog entry of GET /api/v1/models."""

    id: str
    kind: str
    credits: int
    requires_image: bool
    available: bool
    engines: list[str]
    description: str


class ModelsResponse(BaseModel):
    """GET /api/v1/models."""

    models: list[ModelInfo]
