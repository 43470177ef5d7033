"""Response bodies of the catalog route."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ParamInfo(BaseModel):
    """An optional request field a model takes (POST /api/v1/imagine)."""

    name: str
    type: str = Field(description="number, integer or boolean")
    min: float | None = None
    max: float | None = None


class ModelInfo(BaseModel):
    """One catalog entry of GET /api/v1/models."""

    id: str
    kind: str = Field(description="edit, generate (text alone) or edit+generate")
    kinds: list[str] = Field(default_factory=list, description="kind as a list")
    family: str = ""
    credits: int
    requires_image: bool
    max_images: int = Field(
        default=1, description="Input images one request may carry (image_url + image_urls)"
    )
    aspect_ratios: list[str] = Field(default_factory=list)
    params: list[ParamInfo] = Field(
        default_factory=list,
        description="Optional request fields this model takes (e.g. guidance, steps,"
        " prompt_upsampling for flux-2-flex); any other model refuses them (400)",
    )
    available: bool
    engines: list[str]
    description: str
    vision: list[str] = Field(
        default_factory=list,
        description="Vision and safety models active on its local engines (offline, local GPU);"
        " empty: none (the offline engine then finds the subject with GrabCut)",
    )


class ModelsResponse(BaseModel):
    """GET /api/v1/models."""

    models: list[ModelInfo]


class ProviderInfo(BaseModel):
    """One hosted provider in GET /providers (no key, no URL)."""

    name: str
    configured: bool = Field(description="Its key or token is set")
    reachable: bool | None = Field(description="It answered; null: not asked")
    balance: float | None = Field(description="Account balance in its unit (BFL: credits)")
    note: str


class ProvidersResponse(BaseModel):
    """GET /providers (operators: the metrics token)."""

    ready: bool = Field(description="Always true: a provider's state never fails this service")
    providers: list[ProviderInfo]
