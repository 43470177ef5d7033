"""Request and response bodies (strict JSON types; unknown fields ignored)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


EXAMPLE_IMAGE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFUlEQVR42mM8YaPBgA0wMeA"
    "Ag1MCAO+wATws8x7vAAAAAElFTkSuQmCC"
)


class ImagineRequest(_Request):
    """POST /api/v1/imagine. Presence and value rules are checked by the pipeline."""

    model_config = ConfigDict(
        extra="ignore",
        strict=True,
        json_schema_extra={
            "examples": [
                {"prompt": "make it brighter", "image_url": EXAMPLE_IMAGE},
                {
                    "prompt": "add rain reflections on the road",
                    "model": "flux-kontext-pro",
                    "image_url": EXAMPLE_IMAGE,
                    "aspect_ratio": "16:9",
                    "output_format": "jpeg",
                    "seed": 42,
                },
            ]
        },
    )

    prompt: StrictStr | None = Field(default=None, description="Edit instruction (English).")
    model: StrictStr | None = Field(default=None, description="Default flux-kontext-max.")
    image_url: StrictStr | None = Field(default=None, description="http(s) URL or data URI.")
    image_urls: list[StrictStr] | None = Field(
        default=None,
        description="More input images (references), after image_url, in order; at most the"
        " model's max_images in all (GET /api/v1/models).",
    )
    aspect_ratio: StrictStr | None = Field(default=None, description="Default 1:1.")
    webhook_url: StrictStr | None = None
    webhook_secret: StrictStr | None = Field(default=None, repr=False)
    seed: StrictInt | None = None
    output_format: StrictStr | None = Field(default=None, description="png (default) or jpeg.")
    guidance: StrictFloat | None = Field(
        default=None,
        description="Prompt adherence, 1.5 to 10; only for models that list it in their"
        " params (GET /api/v1/models: flux-2-flex).",
    )
    steps: StrictInt | None = Field(
        default=None, description="Sampling steps, 1 to 50; only for models that list it."
    )
    prompt_upsampling: StrictBool | None = Field(
        default=None,
        description="Let the provider rewrite the prompt; only for models that list it.",
    )


class FetchRequest(_Request):
    """POST /api/v1/fetch."""

    task_id: StrictStr | None = None


class FetchManyRequest(_Request):
    """POST /api/v1/fetch-many."""

    task_ids: list[StrictStr] | None = None


class ImagineResponse(BaseModel):
    """A finished edit."""

    task_id: str
    status: Literal["finished"]
    image_url: str
    credits_used: int
    warnings: list[str]
    engine: str = Field(description="What served the edit: offline, bfl, fal, replicate…")
    applied: list[str] = Field(
        default_factory=list, description="Edits the offline engine applied (empty otherwise)"
    )


class TaskObject(BaseModel):
    """The task shape of /fetch, /fetch-many and webhook payloads."""

    task_id: str
    task_type: str
    model: str
    status: Literal["staged", "pending", "starting", "processing", "finished", "failed"]
    percentage: str
    image_url: str | None
    error: str | None
    engine: str | None = Field(default=None, description="What served the edit (when it ran)")
    warnings: list[str] = Field(default_factory=list)
    applied: list[str] = Field(
        default_factory=list, description="Edits the offline engine applied (empty otherwise)"
    )


class FetchManyResponse(BaseModel):
    """Tasks found among those asked for."""

    tasks: list[TaskObject]
