"""Response bodies of the OpenAI-compatible routes (OpenAI's key names, plus ours)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ImageData(BaseModel):
    """One output image: a URL (default) or the bytes, base64-encoded."""

    url: str | None = None
    b64_json: str | None = None


class InputTokensDetails(BaseModel):
    """Always zero: our engines do not count tokens."""

    image_tokens: int = 0
    text_tokens: int = 0


class ImagesUsage(BaseModel):
    """OpenAI's usage keys (zero: nothing is counted in tokens) plus the credits charged."""

    input_tokens: int = 0
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens: int = 0
    total_tokens: int = 0
    credits_used: int = Field(description="Credits this edit cost (0 when nothing applied)")


class ImagesResponse(BaseModel):
    """POST /v1/images/edits: OpenAI's ImagesResponse, plus our task fields."""

    created: int = Field(description="Unix seconds")
    data: list[ImageData]
    output_format: Literal["png", "jpeg"]
    usage: ImagesUsage
    task_id: str = Field(description="The task, also readable via POST /api/v1/fetch")
    engine: str
    warnings: list[str]
    applied: list[str] = Field(default_factory=list)


class OpenAIModel(BaseModel):
    """One entry of GET /v1/models, in OpenAI's shape (plus our price and availability)."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="0: catalog entries have no creation date")
    owned_by: str
    credits: int
    available: bool


class OpenAIModelList(BaseModel):
    """GET /v1/models."""

    object: Literal["list"] = "list"
    data: list[OpenAIModel]
