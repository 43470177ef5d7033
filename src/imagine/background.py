"""Background work: sweeps, purges, orphan recovery and the `imagine worker` loop.

Runs inside `imagine serve` by default (IMAGINE_RUN_WORKER_IN_PROCESS) or in separate
worker processes at scale; either way it is built from the same `Services`.
"""

from __future__ import annotations

import signal
from datetime import timedelta

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.clock import Clock
from imagine.db.migrate import upgrade
from imagine.services import Services, build_deliverer
from imagine.storage.sweeper import sweep_expired
from imagine.tasks.settle import recover_orphans
from imagine.uploads.sweeper import sweep_expired_uploads
from imagine.webhooks import repository as webhooks_repo

log = structlog.get_logger(__name__)


async def purge_webhook_history(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, retention: timedelta
) -> int:
    """Forget settled webhook deliveries older than `retention`, in batches."""
    cutoff = clock.now() - retention
    total = 0
    while True:
        async with sessions.begin() as session:
            removed = await webhooks_repo.purge_settled(session, settled_before=cutoff)
        total += removed
        if removed == 0:
            return total


async def background_sweeps(services: Services) -> None:
    """Sweep expired outputs and uploads, orphaned reservations and old webhook history,
    until cancelled."""
    settings = services.settings
    while True:
        try:
            await recover_orphans(services.sessions, services.clock, settings.reservation_timeout)
            await sweep_expired(services.sessions, services.store, services.clock)
            await sweep_expired_uploads(services.sessions, services.store, services.clock)
            await purge_webhook_history(
                services.sessions, services.clock, settings.webhook_retention
            )
        except Exception:
            log.exception("background sweep failed")
        await anyio.sleep(settings.sweep_interval)


async def run_background(services: Services) -> None:
    """Webhook delivery and the sweeps, until cancelled."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(background_sweeps, services)
        tg.start_soon(build_deliverer(services).run)


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("worker stopping", signal=signal.Signals(signum).name)
            scope.cancel()
            return


async def run_worker(services: Services) -> None:
    """`imagine worker`: migrate, then deliver webhooks and sweep until SIGTERM/SIGINT."""
    try:
        await upgrade(services.db)
        log.info("worker ready")
        async with anyio.create_task_group() as tg:
            tg.start_soon(_stop_on_signal, tg.cancel_scope)
            tg.start_soon(run_background, services)
    finally:
        with anyio.CancelScope(shield=True):
            await services.close()
