"""Plans and their concurrency limits (requests in flight per account)."""

from __future__ import annotations

PLAN_CONCURRENCY: dict[str, int] = {"basic": 5, "starter": 10, "growth": 25}


def concurrency_limit(plan: str) -> int:
    """Requests an account on `plan` may have in flight; unknown plans get basic's."""
    return PLAN_CONCURRENCY.get(plan, PLAN_CONCURRENCY["basic"])
