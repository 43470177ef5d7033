"""PostgreSQL LISTEN/NOTIFY wake-up for delivery loops in any process.

`repository.enqueue` sends `NOTIFY imagine_outbox` in the transaction that ends a task, so
PostgreSQL tells every listening worker the moment it commits, whichever replica ran the
task. Only a latency shortcut, like `OutboxSignal`: the loop still polls, which is what
makes delivery survive a lost listener connection, restarts and SQLite.
"""

from __future__ import annotations

import anyio
import asyncpg
import structlog
from sqlalchemy.engine import make_url

from imagine.webhooks.repository import OUTBOX_CHANNEL
from imagine.webhooks.signal import OutboxSignal

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT = 10.0
RETRY_CAP = 30.0


def listen_dsn(database_url: str) -> str | None:
    """The asyncpg DSN for a PostgreSQL database URL; None for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class OutboxListener:
    """Holds one connection of its own (outside the pool) listening on the outbox channel."""

    def __init__(self, dsn: str, signal: OutboxSignal, channel: str = OUTBOX_CHANNEL) -> None:
        self._dsn = dsn
        self._signal = signal
        self._channel = channel
        self.listening = anyio.Event()  # set once the first LISTEN is in place (tests)

    def _notified(self, *_: object) -> None:
        self._signal.notify()

    async def run(self) -> None:
        """Listen until cancelled; reconnect with capped backoff when the connection drops."""
        pause = 1.0
        while True:
            try:
                await self._listen_once()
                pause = 1.0
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("outbox listener disconnected; polling meanwhile", error=str(exc))
            # A NOTIFY sent while we were away is not replayed: wake the loop to look now.
            self._signal.notify()
            await anyio.sleep(pause)
            pause = min(pause * 2, RETRY_CAP)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT)
        lost = anyio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(self._channel, self._notified)
            log.info("outbox listener ready", channel=self._channel)
            self.listening.set()
            while not lost.is_set():
                # A dead server or network path may never close the socket: check now and then.
                with anyio.move_on_after(30):
                    await lost.wait()
                if not lost.is_set():
                    with anyio.fail_after(CONNECT_TIMEOUT):
                        await conn.fetchval("SELECT 1")
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await conn.close()
