"""The /imagine pipeline: admit (reserve) → fetch → prepare → edit → store → commit.

Any failure after admission fails the task and releases its reservation, also when the
request is cancelled half-way (client gone, shutdown).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import anyio
import anyio.to_thread
import structlog
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine import images
from imagine.accounts import repository as accounts_repo
from imagine.accounts.plans import concurrency_limit
from imagine.catalog import ASPECT_SIZES
from imagine.clock import Clock
from imagine.db.schema import Account
from imagine.engines.base import EditOptions, EditResult, Engine
from imagine.errors import (
    InsufficientCredits,
    RateLimited,
    TaskFailed,
    UpstreamUnavailable,
    ValidationFailed,
)
from imagine.services import Services
from imagine.storage import repository as storage_repo
from imagine.storage.store import new_object_name
from imagine.tasks import repository as tasks_repo
from imagine.tasks.repository import NewTask
from imagine.tasks.validation import EditRequest
from imagine.tasks.views import output_url
from imagine.webhooks import repository as webhooks_repo

log = structlog.get_logger(__name__)

CANCELLED = "Request cancelled before the image was ready (client disconnected)"


@dataclass(frozen=True)
class Finished:
    """A finished edit, as the response reports it."""

    task_id: str
    image_url: str
    credits_used: int
    warnings: list[str]


class AdmittedTaskFailed(Exception):
    """A task that was admitted and then failed: the error plus the task's id."""

    def __init__(self, task_id: str, error: TaskFailed) -> None:
        super().__init__(str(error))
        self.task_id = task_id
        self.error = error


class AdmittedTaskCrashed(Exception):
    """A bug after admission; the task was failed and its credits released."""

    def __init__(self, task_id: str) -> None:
        super().__init__(task_id)
        self.task_id = task_id


def language_warnings(services: Services, prompt: str) -> list[str]:
    """Warn about (or, when configured, reject) a prompt that is clearly not English."""
    lang = services.language.non_english_language(prompt)
    if lang is None:
        return []
    if services.settings.non_english == "reject":
        raise ValidationFailed(f"prompt must be in English (detected language: {lang})")
    return [f"prompt does not look like English (detected: {lang}); results may be poor"]


async def run_edit(services: Services, account: Account, req: EditRequest) -> Finished:
    """Run one edit for `account`; raises domain errors before admission, Admitted* after."""
    warnings = language_warnings(services, req.prompt)
    route = services.routes[req.model.id]
    if route.engine is None or not route.available:
        raise UpstreamUnavailable(f"model {req.model.id} is not available on this server")
    metrics = services.metrics
    slot = await services.limiter.acquire(account.id, concurrency_limit(account.plan))
    if slot is None:
        metrics.tasks.labels(req.model.id, "429").inc()
        raise RateLimited()
    try:
        try:
            task_id = await _admit(services, account, req)
        except InsufficientCredits:
            metrics.tasks.labels(req.model.id, "402").inc()
            raise
        log.info("task admitted", task_id=task_id, model=req.model.id, account=account.id)
        started = time.perf_counter()
        outcome = "failed"
        metrics.in_flight.inc()
        try:
            finished = await _process(services, task_id, req, route.engine, warnings)
            outcome = "finished"
        except TaskFailed as exc:
            with anyio.CancelScope(shield=True):
                await _fail(
                    services, account.id, task_id, req.model.price, exc.messages[0], exc.status
                )
            raise AdmittedTaskFailed(task_id, exc) from exc
        except BaseException as exc:
            crashed = isinstance(exc, Exception)
            # Not an Exception: cancelled (the client left without a webhook, or shutdown).
            error, status = ("Internal error", 500) if crashed else (CANCELLED, 499)
            with anyio.CancelScope(shield=True):
                await _fail(services, account.id, task_id, req.model.price, error, status)
            if crashed:
                log.exception("task crashed", task_id=task_id)
                raise AdmittedTaskCrashed(task_id) from exc
            raise
        finally:
            metrics.in_flight.dec()
            metrics.tasks.labels(req.model.id, outcome).inc()
            metrics.duration.labels(req.model.id, outcome).observe(time.perf_counter() - started)
        return finished
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await services.limiter.release(account.id, slot)
            except Exception:
                # Never let bookkeeping turn a charged success (or a failure and its task_id)
                # into a 500.
                log.exception("could not release the in-flight slot", account=account.id)


async def _admit(services: Services, account: Account, req: EditRequest) -> str:
    now = services.clock.now()
    async with services.sessions.begin() as session:
        task = await tasks_repo.insert_task(
            session,
            NewTask(
                account_id=account.id,
                model=req.model.id,
                prompt=req.prompt,
                aspect_ratio=req.aspect_ratio,
                output_format=req.output_format,
                seed=req.seed,
                webhook_url=req.webhook_url,
                webhook_secret=req.webhook_secret,
                credits=req.model.price,
            ),
            now=now,
        )
        reserved = await accounts_repo.reserve(
            session, account.id, req.model.price, task_id=task.id, now=now
        )
        if not reserved:
            # Leaving the block with an error rolls the task row back too.
            raise InsufficientCredits()
        return task.id


async def _process(
    services: Services, task_id: str, req: EditRequest, engine: Engine, warnings: list[str]
) -> Finished:
    settings = services.settings
    width, height = ASPECT_SIZES[req.aspect_ratio]
    data = await services.fetcher.fetch(req.image_url)
    prepared = await anyio.to_thread.run_sync(
        _prepare,
        data,
        settings.max_image_pixels,
        width,
        height,
        limiter=_decode_slots(services),
    )
    del data
    options = EditOptions(
        model=req.model.id,
        aspect_ratio=req.aspect_ratio,
        width=width,
        height=height,
        seed=req.seed,
        output_format=req.output_format,
    )
    result: EditResult = await engine.edit(prepared, req.prompt, options)
    encoded = await anyio.to_thread.run_sync(
        _finish_image, result.image, width, height, req.output_format
    )
    name = new_object_name("png" if req.output_format == "png" else "jpg")
    await services.store.put(name, encoded)
    try:
        all_warnings = warnings + result.warnings
        now = services.clock.now()
        async with services.sessions.begin() as session:
            await storage_repo.add_output(
                session,
                name=name,
                task_id=task_id,
                content_type=images.CONTENT_TYPES[req.output_format],
                size=len(encoded),
                now=now,
                expires_at=now + settings.output_ttl,
            )
            task = await tasks_repo.get_task(session, task_id)
            if task is None or not await tasks_repo.finish_task(
                session,
                task_id,
                output_name=name,
                warnings=all_warnings,
                engine=result.engine,
                now=now,
            ):
                # Failed meanwhile (e.g. by the orphan sweeper): its credits were already released.
                raise TaskFailed("Task expired before it finished", 504)
            await accounts_repo.commit_charge(
                session, task.account_id, req.model.price, task_id=task_id, now=now
            )
            # Outbox: the webhook is due exactly when this transaction commits, never lost.
            await webhooks_repo.enqueue_for_task(
                session, task_id, public_url=settings.resolved_public_url(), now=now
            )
    except BaseException:
        # No output row was committed: do not leave the bytes behind for nobody to sweep.
        with anyio.CancelScope(shield=True):
            await services.store.delete(name)
        raise
    if req.webhook_url:
        services.outbox_signal.notify()
    return Finished(
        task_id=task_id,
        image_url=output_url(settings.resolved_public_url(), name),
        credits_used=req.model.price,
        warnings=all_warnings,
    )


def _decode_slots(services: Services) -> anyio.CapacityLimiter:
    """One bound per app on concurrent decodes (each may hold max_image_pixels in memory)."""
    slots = services.extras.get("decode_slots")
    if not isinstance(slots, anyio.CapacityLimiter):
        slots = anyio.CapacityLimiter(images.decode_concurrency())
        services.extras["decode_slots"] = slots
    return slots


def _prepare(data: bytes, max_pixels: int, width: int, height: int) -> Image.Image:
    decoded = images.decode(data, max_pixels=max_pixels, draft_size=(width, height))
    return images.cover(decoded, width, height)


def _finish_image(img: Image.Image, width: int, height: int, fmt: str) -> bytes:
    if img.size != (width, height):
        img = images.cover(img, width, height)
    return images.encode(img, "jpeg" if fmt == "jpeg" else "png")


async def _fail(
    services: Services, account_id: str, task_id: str, price: int, error: str, status: int
) -> None:
    await fail_and_refund(
        services.sessions, services.clock, account_id, task_id, price, error, status
    )
    services.outbox_signal.notify()


async def fail_and_refund(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    account_id: str,
    task_id: str,
    price: int,
    error: str,
    status: int,
) -> None:
    """Fail a running task and release its reservation, in one transaction (idempotent)."""
    now = clock.now()
    async with sessions.begin() as session:
        if await tasks_repo.fail_task(session, task_id, error=error, error_status=status, now=now):
            await accounts_repo.release(session, account_id, price, task_id=task_id, now=now)
            await webhooks_repo.enqueue_for_task(session, task_id, public_url=None, now=now)
    log.info("task failed", task_id=task_id, error=error, status=status)


async def recover_orphans(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, max_age: timedelta
) -> int:
    """Fail tasks left running past the reservation timeout (a crash) and refund them."""
    cutoff = clock.now() - max_age
    async with sessions() as session:
        stale = await tasks_repo.stale_running_tasks(session, cutoff)
    for task in stale:
        await fail_and_refund(
            sessions,
            clock,
            task.account_id,
            task.id,
            task.credits_reserved,
            "Task interrupted",
            500,
        )
    return len(stale)
