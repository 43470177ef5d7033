"""Cancel work whose client went away: an edit nobody can receive is not charged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from fastapi import Request

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its (webhook-less) edit finished; nobody gets an answer."""


async def _until_disconnected(request: Request) -> None:
    # The body is already read, so the next ASGI message is the disconnect (if any).
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_client_leaves(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work`, cancelling it if the client goes away (the pipeline then fails the task
    and releases its credits)."""
    result: list[T] = []
    try:
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await _until_disconnected(request)
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            result.append(await work())
            tg.cancel_scope.cancel()
    except ExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    if not result:
        raise ClientGone
    return result[0]
