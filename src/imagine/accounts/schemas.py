"""Response bodies of the account routes."""

from __future__ import annotations

from pydantic import BaseModel


class AccountResponse(BaseModel):
    """GET /api/v1/account."""

    email: str
    credits: int
    total_images: int
    plan: str
