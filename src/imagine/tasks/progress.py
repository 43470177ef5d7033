"""A task's `percentage` as its edit advances: monotone, with throttled database writes.

Steps of the pipeline report fixed points (fetched 10, decoded 20, stored 95; finished is
100). An engine reports a fraction through `EditOptions.progress`, from any thread, as often
as it likes; `follow_engine` maps the latest one into 20..90 and writes it at most every
`min_interval` seconds, and only when it grew by `min_step` points. It sleeps until the
engine first reports: an engine that never does (a hosted provider) costs no wake-ups.
"""

from __future__ import annotations

import asyncio
import threading
import time

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.clock import Clock
from imagine.tasks import repository as tasks_repo

log = structlog.get_logger(__name__)

FETCHED = 10
DECODED = 20
ENGINE_DONE = 90
STORED = 95


class TaskProgress:
    """Reports one running task's progress to its row."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        task_id: str,
        *,
        min_interval: float = 0.5,
        min_step: int = 5,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.task_id = task_id
        self.min_interval = min_interval
        self.min_step = min_step
        self.written = 0
        self._written_at = 0.0
        self._fraction = 0.0
        self._lock = threading.Lock()
        self._reported = False
        self._first_report: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def engine_fraction(self, fraction: float) -> None:
        """The engine's callback (any thread): how far along it is, 0..1."""
        with self._lock:
            self._fraction = max(self._fraction, min(max(float(fraction), 0.0), 1.0))
            wake = not self._reported and self._loop is not None
            self._reported = True
            loop, first = self._loop, self._first_report
        if wake and loop is not None and first is not None:
            loop.call_soon_threadsafe(first.set)

    async def reach(self, percentage: int, status: str = "processing") -> None:
        """Record a step of the pipeline (written at once; never lowers the percentage)."""
        await self._write(max(percentage, self.written), status)

    async def follow_engine(self, tick: float = 0.1) -> None:
        """Until cancelled: write the engine's reported progress, mapped into 20..90."""
        first = asyncio.Event()
        with self._lock:
            self._first_report, self._loop = first, asyncio.get_running_loop()
            if self._reported:
                first.set()
        await first.wait()
        while True:
            await anyio.sleep(tick)
            with self._lock:
                fraction = self._fraction
            percentage = DECODED + int((ENGINE_DONE - DECODED) * fraction)
            grown = percentage - self.written
            due = time.monotonic() - self._written_at >= self.min_interval
            if grown >= self.min_step or (grown > 0 and due):
                await self._write(percentage, "processing")

    async def _write(self, percentage: int, status: str) -> None:
        try:
            async with self.sessions.begin() as session:
                await tasks_repo.set_progress(
                    session, self.task_id, percentage, status, now=self.clock.now()
                )
        except Exception:
            # Progress is a courtesy: a busy database must not fail the edit.
            log.warning("could not record progress", task_id=self.task_id, exc_info=True)
            return
        self.written = percentage
        self._written_at = time.monotonic()
