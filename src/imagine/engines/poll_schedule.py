"""When to poll a provider's task: few polls, and a result seen soon after it is ready.

A fixed backoff trades one for the other: polling a 10 s task every 0.5 s costs ~20 polls
(each an HTTP round trip and a JSON parse: with thousands of edits held, polls were most of
the server's CPU), while backing off to 4 s leaves a finished result unseen for up to 4 s.
Tasks of one model on one provider take similar times, so each engine remembers how long
its recent tasks took (`TaskDurations`) and a task's `PollSchedule`:

- sleeps in one go until just before the quickest recent tasks finished (90 % of the 10th
  percentile; no sleep at all where tasks are ready at once),
- then polls every 0.5–1 s (a tenth of the median) until three times the median, so a
  result is seen at most a second after it is ready,
- then, for a task running far longer than usual (queued at the provider), backs off
  again from 1 s by 1.5× to 4 s.

Until three tasks have finished it polls at once, then backs off from 0.5 s. A task that fails
or is moderated is not counted (those end early and would pull the estimate down).
"""

from __future__ import annotations

from collections import deque

FIRST = 0.5  # the shortest sleep, and the first without history
CAP = 4.0  # the longest sleep between two polls
BRISK = (0.5, 1.0)  # the interval near the usual finishing time: bounds the overshoot
GROWTH = 1.5
MIN_SAMPLES = 3


class TaskDurations:
    """Seconds from acceptance to "done" of an engine's last `window` successful tasks."""

    def __init__(self, window: int = 64) -> None:
        self._recent: deque[float] = deque(maxlen=window)

    def record(self, seconds: float) -> None:
        """One more finished task."""
        self._recent.append(max(seconds, 0.0))

    def quantile(self, q: float) -> float | None:
        """The q-quantile (nearest rank) of the recent durations; None with too few."""
        if len(self._recent) < MIN_SAMPLES:
            return None
        ordered = sorted(self._recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class PollSchedule:
    """The sleeps before each next poll of one task, from its engine's recent durations."""

    def __init__(self, durations: TaskDurations) -> None:
        self._early = durations.quantile(0.1)
        self._typical = durations.quantile(0.5)
        self._backoff = FIRST / GROWTH  # the last backoff sleep

    def _grow(self, start: float) -> float:
        self._backoff = min(max(self._backoff * GROWTH, start), CAP)
        return self._backoff

    def before_first_poll(self) -> float:
        """Seconds to wait after acceptance before the first poll: none without history
        (a provider may answer at once), else until the quickest recent tasks finished."""
        if self._early is None:
            return 0.0
        return 0.9 * self._early  # ~0 for a provider that answers at once

    def next_delay(self, elapsed: float) -> float:
        """Seconds to sleep before the next poll, `elapsed` seconds after acceptance."""
        if self._early is None or self._typical is None:
            return self._grow(FIRST)
        wake = 0.9 * self._early
        if elapsed + FIRST < wake:
            return wake - elapsed
        if elapsed < 3 * self._typical:
            return min(max(0.1 * self._typical, BRISK[0]), BRISK[1])
        return self._grow(BRISK[1])
