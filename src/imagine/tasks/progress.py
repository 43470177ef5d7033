"""An engine's progress → the task's `percentage`, with throttled writes.

Engines call `report(fraction)` from any thread as often as they like (every denoising
step); a small loop writes the latest value at most every `interval` seconds, and only
when the whole percentage changed, so /fetch shows a running edit without a write per step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.clock import Clock
from imagine.tasks import repository as tasks_repo

log = structlog.get_logger(__name__)

INTERVAL = 0.5


class ProgressWriter:
    """Holds the latest fraction (set from any thread) and writes it to the task."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        task_id: str,
        interval: float = INTERVAL,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.task_id = task_id
        self.interval = interval
        self._latest: float | None = None  # one reference assignment: thread-safe enough
        self._written: int | None = None

    def report(self, fraction: float) -> None:
        """Record how far along the engine is (0..1); cheap, any thread."""
        self._latest = fraction

    async def run(self) -> None:
        """Write changes until cancelled."""
        while True:
            await anyio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        """Write the latest value if its whole percentage changed (never 0 or 100 here:
        100 belongs to the finished task)."""
        if self._latest is None:
            return
        percentage = min(99, max(1, int(self._latest * 100)))
        if percentage == self._written:
            return
        try:
            async with self.sessions.begin() as session:
                await tasks_repo.set_progress(
                    session, self.task_id, percentage=percentage, now=self.clock.now()
                )
            self._written = percentage
        except Exception:
            # Progress is a courtesy: never fail the edit over it.
            log.warning("could not record progress", task_id=self.task_id, exc_info=True)


@asynccontextmanager
async def tracked_progress(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, task_id: str
) -> AsyncIterator[Callable[[float], None]]:
    """A `progress` callback for EditOptions, written to the task while the block runs."""
    writer = ProgressWriter(sessions, clock, task_id)
    # A plain task, not a task group: the engine's own errors must reach the pipeline as
    # they are, not wrapped in an ExceptionGroup.
    loop = asyncio.get_running_loop()
    task = loop.create_task(writer.run(), name=f"progress {task_id}")
    try:
        yield writer.report
    finally:
        task.cancel()
        with anyio.CancelScope(shield=True), contextlib.suppress(asyncio.CancelledError):
            await task
