"""When to try a delivery again: exponential backoff with jitter, capped, Retry-After aware."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

# Waits after the 1st, 2nd, … failed attempt (seconds); after the last one, give up.
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
# Each wait is stretched or shrunk by up to this fraction so receivers are not stampeded.
JITTER = 0.2
# A Retry-After further away than this is treated as this (a receiver cannot park us forever).
MAX_RETRY_AFTER = timedelta(hours=24)


class RandomSource(Protocol):
    """Uniform floats in [0, 1), injected so tests can pin the jitter (e.g. random.Random)."""

    def random(self) -> float:
        """The next float in [0, 1)."""
        ...


def next_delay(
    failed_attempts: int,
    schedule: Sequence[float],
    rng: RandomSource,
    retry_after: timedelta | None = None,
) -> timedelta | None:
    """Wait before the next attempt after `failed_attempts` failures; None means give up."""
    if failed_attempts < 1:
        raise ValueError("failed_attempts counts from 1")
    if failed_attempts > len(schedule):
        return None
    base = schedule[failed_attempts - 1]
    delay = timedelta(seconds=base * (1 + JITTER * (2 * rng.random() - 1)))
    if retry_after is not None:
        # Never sooner than the receiver asked, nor sooner than the schedule.
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A `Retry-After` header (delta-seconds or HTTP-date) as a wait from `now`."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))
