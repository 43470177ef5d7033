"""A bound on edits that hold an input image on its way to a provider.

A hosted edit holds its input (the fetched bytes, then the upload body: base64 in JSON,
~2.5× the file) from the fetch until the provider accepts the task, then nothing but a
small polling state while the provider works. Under a burst the event loop is the
bottleneck and thousands of edits could sit in that first phase at once: hundreds of MB
for no gain. Here at most `limit` edits are in it; the others wait before fetching,
holding only their request (a few KB), first come first served.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio

from imagine.errors import ServiceBusy
from imagine.semaphores import release_once


class InputGate:
    """At most `limit` edits between "fetch the input" and "the provider has it"."""

    def __init__(self, limit: int, wait: float) -> None:
        self.limit = limit
        self.wait = wait
        self._slots: anyio.Semaphore | None = None  # made in the loop that first uses it

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[Callable[[], None]]:
        """Hold a slot for the block; the yielded `release` gives it back early (call it
        once the provider accepted the input). Waiting longer than `wait`: ServiceBusy."""
        if self._slots is None:
            self._slots = anyio.Semaphore(self.limit, fast_acquire=True)
        slots = self._slots
        with anyio.move_on_after(self.wait) as waited:
            await slots.acquire()
        if waited.cancelled_caught:
            raise ServiceBusy("Too many edits uploading inputs, retry shortly")
        release = release_once(slots)
        try:
            yield release
        finally:
            release()
