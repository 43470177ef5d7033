"""In-process wake-up for the delivery loop, so a webhook leaves as soon as its task ends.

Only a latency shortcut: the loop still polls the outbox, which is what makes delivery
survive restarts and work across processes.
"""

from __future__ import annotations

import anyio


class OutboxSignal:
    """Wakes a delivery loop waiting in this process when new outbox rows are committed."""

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    def arm(self) -> None:
        """Start listening (before claiming, so a commit during the claim is not missed)."""
        self._event = anyio.Event()

    def notify(self) -> None:
        """New deliveries are due."""
        if self._event is not None:
            self._event.set()

    async def wait(self, at_most: float) -> None:
        """Return when notified since `arm()`, or after `at_most` seconds."""
        event = self._event
        if event is None:
            await anyio.sleep(at_most)
            return
        with anyio.move_on_after(at_most):
            await event.wait()
