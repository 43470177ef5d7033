"""Async edits (`Prefer: respond-async`): admitted in the request, finished in the background.

The edits run in a task group owned by the app's lifespan, never by the request, so a client
that disconnects after its 202 cancels nothing. The number running at once is capped per
process. On shutdown, new async requests are refused and running edits get a grace period;
those still running are then cancelled, which fails and refunds them (the pipeline's
cancellation path, webhook included). An edit the process could not settle (killed) is
failed and refunded by the orphan sweep (tasks.settle.recover_orphans).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import structlog
from anyio.abc import TaskGroup

log = structlog.get_logger(__name__)


class BackgroundEdits:
    """A bounded set of background edits tied to the app's lifespan."""

    def __init__(self, *, max_running: int, grace: float) -> None:
        self.max_running = max_running
        self.grace = grace
        self.running = 0
        self._group: TaskGroup | None = None
        self._idle: anyio.Event | None = None  # set when the last edit ends at shutdown

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Accept background edits while the app serves; on exit wait `grace`, then cancel."""
        async with anyio.create_task_group() as group:
            self._group = group
            try:
                yield
            finally:
                self._group = None  # refuse new edits from here on
                if self.running:
                    log.info("waiting for async edits", running=self.running, grace=self.grace)
                    self._idle = anyio.Event()
                    with anyio.move_on_after(self.grace):
                        await self._idle.wait()
                if self.running:
                    log.warning("cancelling async edits at shutdown", running=self.running)
                group.cancel_scope.cancel()

    def claim(self) -> bool:
        """Take a place for one edit; False when full or shutting down."""
        if self._group is None or self.running >= self.max_running:
            return False
        self.running += 1
        return True

    def unclaim(self) -> None:
        """Give back a place taken by `claim` (the edit was not started)."""
        self.running -= 1
        if self.running == 0 and self._idle is not None:
            self._idle.set()

    def start(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` in the background on a place already claimed."""
        if self._group is None:
            self.unclaim()
            raise RuntimeError("background edits are not being served")
        self._group.start_soon(self._run, work)

    async def _run(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception:
            # The pipeline settles its own failures; a bug here must not take down the group
            # (and every other running edit with it).
            log.exception("background edit crashed")
        finally:
            self.unclaim()
