"""Giving back an acquired semaphore slot exactly once, from whichever path ends first."""

from __future__ import annotations

from collections.abc import Callable

import anyio


def release_once(semaphore: anyio.Semaphore) -> Callable[[], None]:
    """A function that releases one acquired slot of `semaphore` on its first call only."""
    held = True

    def release() -> None:
        nonlocal held
        if held:
            held = False
            semaphore.release()

    return release
