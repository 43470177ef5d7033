"""`imagine worker`: webhook delivery and background sweeps, without the HTTP API."""

from __future__ import annotations

import signal

import anyio
import structlog

from imagine.app import background_sweeps
from imagine.db.migrate import upgrade
from imagine.services import Services
from imagine.webhooks.delivery import DeliveryWorker

log = structlog.get_logger(__name__)


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("worker stopping", signal=signal.Signals(signum).name)
            scope.cancel()
            return


async def run_worker(services: Services) -> None:
    """Migrate, then deliver webhooks and sweep until SIGTERM/SIGINT; closes the services."""
    try:
        await upgrade(services.db)
        worker = DeliveryWorker(services)
        log.info("worker ready", worker=worker.name)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_stop_on_signal, tg.cancel_scope)
            tg.start_soon(background_sweeps, services)
            tg.start_soon(worker.run)
    finally:
        with anyio.CancelScope(shield=True):
            await services.close()
