"""The /imagine pipeline: validate → admit (reserve) → fetch → prepare → edit → store → commit.

`EditPipeline` is built by the composition root with exactly the collaborators it uses, so
tests build one with fakes directly. Any failure after admission fails the task and releases
its reservation, also when the request is cancelled half-way (client gone, shutdown); the
error raised then carries the task's id.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

import anyio
import anyio.to_thread
import structlog
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine import images
from imagine.accounts import repository as accounts_repo
from imagine.accounts.concurrency import InFlightLimiter
from imagine.accounts.plans import concurrency_limit
from imagine.catalog import ASPECT_SIZES, AUTO_RATIO, Model, nearest_ratio
from imagine.clock import Clock
from imagine.db.busy import database_busy
from imagine.db.schema import Account
from imagine.engines.base import (
    EditOptions,
    EditResult,
    Engine,
    placeholder_image,
    uses_source,
)
from imagine.engines.payload import prepare_source
from imagine.errors import (
    ImagineError,
    InsufficientCredits,
    InternalError,
    RateLimited,
    ServiceBusy,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationFailed,
)
from imagine.fetch.images import ImageFetcher
from imagine.language import LanguageChecker
from imagine.metrics import Metrics
from imagine.storage import repository as storage_repo
from imagine.storage.store import Store, new_object_name
from imagine.tasks import repository as tasks_repo
from imagine.tasks.background_edits import BackgroundEdits
from imagine.tasks.input_gate import InputGate
from imagine.tasks.progress import DECODED, ENGINE_DONE, FETCHED, STORED, TaskProgress
from imagine.tasks.repository import NewTask
from imagine.tasks.schemas import ImagineRequest
from imagine.tasks.settle import enqueue_webhook, fail_and_refund
from imagine.tasks.validation import EditRequest, validate_imagine
from imagine.tasks.views import output_url
from imagine.uploads.service import Uploads
from imagine.webhooks.signal import OutboxSignal

log = structlog.get_logger(__name__)

CANCELLED = "Request cancelled before the image was ready (client disconnected)"
SHUTDOWN = ("Server shut down before the image was ready; submit the edit again", 503)


@dataclass(frozen=True)
class Finished:
    """A finished edit, as the response reports it."""

    task_id: str
    image_url: str
    credits_used: int
    warnings: list[str]
    engine: str
    applied: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EditLimits:
    """The request and image limits the pipeline applies (from settings)."""

    max_prompt_chars: int
    max_data_uri_chars: int
    max_image_pixels: int
    output_ttl: timedelta
    reject_non_english: bool


@dataclass(frozen=True)
class Outcome:
    """What the task's row needs of an `EditResult` once its image is stored."""

    engine: str
    applied: list[str]
    nothing_applied: bool
    upstream_cost: float | None

    @classmethod
    def of(cls, result: EditResult) -> Outcome:
        """The result's bookkeeping, without its image."""
        return cls(result.engine, result.applied, result.nothing_applied, result.upstream_cost)


class EditPipeline:
    """Runs one edit from a request body to a stored, charged output."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        store: Store,
        catalog: Mapping[str, Model],
        engines: Mapping[str, Engine],
        fetcher: ImageFetcher,
        limiter: InFlightLimiter,
        language: LanguageChecker,
        decode_slots: anyio.CapacityLimiter,
        metrics: Metrics,
        outbox: OutboxSignal,
        limits: EditLimits,
        public_url: str,
        input_gate: InputGate,
        uploads: Uploads | None = None,
        background: BackgroundEdits | None = None,
    ) -> None:
        self.sessions = sessions
        # At most so many hosted edits hold an input on its way to the provider at once.
        self.input_gate = input_gate
        self.clock = clock
        self.store = store
        self.catalog = catalog
        self.engines = engines
        self.fetcher = fetcher
        self.limiter = limiter
        self.language = language
        # One bound per app on concurrent decodes (each may hold max_image_pixels in memory).
        self.decode_slots = decode_slots
        self.metrics = metrics
        self.outbox = outbox
        self.limits = limits
        self.public_url = public_url
        # Reads `<public_url>/api/v1/uploads/<id>` inputs from the store (never over HTTP).
        self.uploads = uploads
        # Runs async edits (Prefer: respond-async) after their 202; None: sync only.
        self.background = background

    def validate(self, body: ImagineRequest) -> EditRequest:
        """Check the body against every rule (400 listing all problems)."""
        return validate_imagine(
            body,
            self.catalog,
            max_prompt_chars=self.limits.max_prompt_chars,
            max_data_uri=self.limits.max_data_uri_chars,
            policy=self.fetcher.policy,
            own_uploads=self.uploads.prefix if self.uploads is not None else None,
        )

    def language_warnings(self, prompt: str) -> list[str]:
        """Warn about (or, when configured, reject) a prompt that is clearly not English."""
        lang = self.language.non_english_language(prompt)
        if lang is None:
            return []
        if self.limits.reject_non_english:
            raise ValidationFailed(f"prompt must be in English (detected language: {lang})")
        return [f"prompt does not look like English (detected: {lang}); results may be poor"]

    async def run(self, account: Account, req: EditRequest) -> Finished:
        """Run one edit for `account`; an error after admission carries the task_id."""
        warnings = self.language_warnings(req.prompt)
        engine = self._engine(req)
        slot = await self._acquire(account, req)
        try:
            task_id = await self._admit_counted(account, req)
            return await self._process_admitted(account.id, task_id, req, engine, warnings)
        finally:
            await self._release(account, slot)

    async def start(self, account: Account, req: EditRequest) -> str:
        """Admit an edit now (every admission error as for `run`: 400, 402, 429, 503) and
        finish it in the background; returns its task_id at once."""
        if self.background is None:
            raise UpstreamUnavailable("async mode is not available on this server")
        warnings = self.language_warnings(req.prompt)
        engine = self._engine(req)
        if not self.background.claim():
            self.metrics.tasks.labels(req.model.id, "503").inc()
            raise ServiceBusy("Too many async edits in progress, retry shortly")
        slot: str | None = None
        try:
            slot = await self._acquire(account, req)
            task_id = await self._admit_counted(account, req, status="pending")
        except BaseException:
            if slot is not None:
                await self._release(account, slot)
            self.background.unclaim()
            raise
        try:
            self.background.start(
                functools.partial(
                    self._in_background, account, req, engine, warnings, task_id, slot
                )
            )
        except RuntimeError as exc:
            # Shutdown began while this request was being admitted: settle it now.
            await self._release(account, slot)
            message, status = SHUTDOWN
            with anyio.CancelScope(shield=True):
                await self._fail(account.id, task_id, req.model.price, message, status)
            busy = ServiceBusy(message)
            busy.task_id = task_id
            raise busy from exc
        return task_id

    async def _in_background(
        self,
        account: Account,
        req: EditRequest,
        engine: Engine,
        warnings: list[str],
        task_id: str,
        slot: str,
    ) -> None:
        """An async edit after its 202: failures are settled (failed, refunded, webhook)."""
        progress = TaskProgress(self.sessions, self.clock, task_id)
        try:
            await self._process_admitted(
                account.id, task_id, req, engine, warnings, progress=progress, on_cancel=SHUTDOWN
            )
        except ImagineError as exc:
            log.info("async edit failed", task_id=task_id, status=exc.status)
        finally:
            # The slot counts against the account's concurrency until the edit has ended.
            await self._release(account, slot)

    def _engine(self, req: EditRequest) -> Engine:
        engine = self.engines.get(req.model.id)
        if engine is None:
            raise UpstreamUnavailable(f"model {req.model.id} is not available on this server")
        return engine

    async def _acquire(self, account: Account, req: EditRequest) -> str:
        slot = await self.limiter.acquire(account.id, concurrency_limit(account.plan))
        if slot is None:
            self.metrics.tasks.labels(req.model.id, "429").inc()
            raise RateLimited()
        return slot

    async def _release(self, account: Account, slot: str) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await self.limiter.release(account.id, slot)
            except Exception:
                # Never let bookkeeping turn a charged success (or a failure and its
                # task_id) into a 500.
                log.exception("could not release the in-flight slot", account=account.id)

    async def _admit_counted(
        self, account: Account, req: EditRequest, status: str = "processing"
    ) -> str:
        try:
            # Shielded: a cancellation that lands while the admission commits would leave
            # the reservation held until the orphan sweep, with nobody to release it.
            with anyio.CancelScope(shield=True):
                task_id = await self._admit(account, req, status)
        except InsufficientCredits:
            self.metrics.tasks.labels(req.model.id, "402").inc()
            raise
        log.info("task admitted", task_id=task_id, model=req.model.id, account=account.id)
        return task_id

    async def _process_admitted(
        self,
        account_id: str,
        task_id: str,
        req: EditRequest,
        engine: Engine,
        warnings: list[str],
        *,
        progress: TaskProgress | None = None,
        on_cancel: tuple[str, int] = (CANCELLED, 499),
    ) -> Finished:
        metrics = self.metrics
        started = time.perf_counter()
        outcome = "failed"
        metrics.in_flight.inc()
        try:
            finished = await self._process(account_id, task_id, req, engine, warnings, progress)
            outcome = "finished"
            return finished
        except BaseException as exc:
            if isinstance(exc, ImagineError) or database_busy(exc):
                # A pool timeout or a lock wait that ran out is load, not a bug: a clear
                # 503 with Retry-After.
                failure = exc if isinstance(exc, ImagineError) else ServiceBusy()
                with anyio.CancelScope(shield=True):
                    message = failure.messages[0] if failure.messages else "Internal error"
                    await self._fail(account_id, task_id, req.model.price, message, failure.status)
                failure.task_id = task_id
                if failure is exc:
                    raise
                raise failure from exc
            crashed = isinstance(exc, Exception)
            # Not an Exception: cancelled (the client left without a webhook, or shutdown).
            error, status = ("Internal error", 500) if crashed else on_cancel
            with anyio.CancelScope(shield=True):
                await self._fail(account_id, task_id, req.model.price, error, status)
            if crashed:
                log.exception("task crashed", task_id=task_id)
                raise InternalError(task_id) from exc
            raise
        finally:
            metrics.in_flight.dec()
            metrics.tasks.labels(req.model.id, outcome).inc()
            metrics.duration.labels(req.model.id, outcome).observe(time.perf_counter() - started)

    async def _admit(self, account: Account, req: EditRequest, status: str) -> str:
        now = self.clock.now()
        async with self.sessions.begin() as session:
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
                status=status,
            )
            reserved = await accounts_repo.reserve(
                session, account.id, req.model.price, task_id=task.id, now=now
            )
            if not reserved:
                # Leaving the block with an error rolls the task row back too.
                raise InsufficientCredits()
            return task.id

    async def _process(
        self,
        account_id: str,
        task_id: str,
        req: EditRequest,
        engine: Engine,
        warnings: list[str],
        progress: TaskProgress | None = None,
    ) -> Finished:
        if progress is not None:
            await progress.reach(0, "starting")
        if not req.inputs:
            result, encoded = await self._generate(req, engine, progress)
        elif uses_source(engine):
            # A hosted provider takes the input's bytes as they are (or one fast JPEG): no
            # decode, and no pixels held while the request waits on the upstream. Until the
            # provider accepts them, the bytes count against the input gate (memory bound).
            async with self.input_gate.turn() as accepted:
                sources = []
                for url in req.inputs:
                    data = await self._input(account_id, url)
                    sources.append(
                        await anyio.to_thread.run_sync(
                            functools.partial(
                                prepare_source,
                                data,
                                decode_max_pixels=self.limits.max_image_pixels,
                            ),
                            limiter=self.decode_slots,
                        )
                    )
                    del data
                sources[0].when_released(accepted)
                if progress is not None:
                    await progress.reach(FETCHED)
                    await progress.reach(DECODED)
                source = sources[0]
                ratio = _ratio_for(req.aspect_ratio, source.info.width, source.info.height)
                options = replace(
                    _options(req, ratio), source=source, references=tuple(sources[1:])
                )
                del sources, source
                follow = progress or TaskProgress(self.sessions, self.clock, task_id)
                result = await _edit(engine, placeholder_image(), req.prompt, options, follow)
                del options
            encoded = await self._native_output(result, req.output_format)
        else:
            data = await self._input(account_id, req.image_url)
            ignored = len(req.references)
            if progress is not None:
                await progress.reach(FETCHED)
            prepared, ratio = await anyio.to_thread.run_sync(
                _prepare,
                data,
                self.limits.max_image_pixels,
                req.aspect_ratio,
                limiter=self.decode_slots,
            )
            del data
            if progress is not None:
                await progress.reach(DECODED)
            options = _options(req, ratio)
            width, height = options.width, options.height
            # A synchronous edit shows the engine's own progress too (a local model's steps),
            # written only once the engine reports any: hosted engines cost no writes.
            follow = progress or TaskProgress(self.sessions, self.clock, task_id)
            result = await _edit(engine, prepared, req.prompt, options, follow)
            del prepared
            if ignored:
                result.warnings.append(
                    f"this engine edits the first image only; {ignored} more were not used"
                )
            encoded = await anyio.to_thread.run_sync(
                _finish_image, result.image, width, height, req.output_format
            )
        if progress is not None:
            await progress.reach(ENGINE_DONE)
        name = new_object_name("png" if req.output_format == "png" else "jpg")
        all_warnings = warnings + result.warnings
        outcome = Outcome.of(result)
        del result  # from here on only `encoded` holds the image, and only until it is stored
        size = len(encoded)
        # Storing and committing are one short step that a cancellation (client gone,
        # shutdown) waits for: cut half-way, a committed task could lose its file, or a
        # stored file its row.
        with anyio.CancelScope(shield=True):
            await self.store.put(name, encoded)
            del encoded  # the commit may wait its turn: it holds no image meanwhile
            if progress is not None:
                await progress.reach(STORED)
            try:
                await self._finish(account_id, task_id, req, name, size, all_warnings, outcome)
            except BaseException:
                # No output row was committed: do not leave the bytes behind for nobody
                # to sweep.
                await self.store.delete(name)
                raise
        if req.webhook_url:
            self.outbox.notify()
        return Finished(
            task_id=task_id,
            image_url=output_url(self.public_url, name),
            credits_used=0 if outcome.nothing_applied else req.model.price,
            warnings=all_warnings,
            engine=outcome.engine,
            applied=outcome.applied,
        )

    async def _generate(
        self, req: EditRequest, engine: Engine, progress: TaskProgress | None
    ) -> tuple[EditResult, bytes]:
        """Text-to-image: no input; the engine gets a blank canvas of the ratio's size."""
        options = replace(_options(req, req.aspect_ratio), has_input=False)
        if progress is not None:
            await progress.reach(FETCHED)
            await progress.reach(DECODED)
        canvas = (
            placeholder_image()
            if uses_source(engine)
            else Image.new("RGB", (options.width, options.height), "white")
        )
        result = await _edit(engine, canvas, req.prompt, options, progress)
        if result.data is not None:
            return result, await self._native_output(result, req.output_format)
        encoded = await anyio.to_thread.run_sync(
            _finish_image, result.image, options.width, options.height, req.output_format
        )
        return result, encoded

    async def _input(self, account_id: str, url: str) -> bytes:
        """The input's bytes: an upload of this account from the store, else fetched."""
        if self.uploads is not None and self.uploads.is_upload_url(url):
            return await self.uploads.input_bytes(account_id, url)
        return await self.fetcher.fetch(url)

    async def _native_output(self, result: EditResult, output_format: str) -> bytes:
        """A generative engine's output at its native size: the provider's bytes as they
        are when already in the requested format, else one re-encode (never resampled)."""
        if result.passes_through(output_format) and result.data is not None:
            return result.data
        img = await result.pixels()
        return await anyio.to_thread.run_sync(
            images.encode, img, "jpeg" if output_format == "jpeg" else "png"
        )

    async def _finish(
        self,
        account_id: str,
        task_id: str,
        req: EditRequest,
        name: str,
        size: int,
        warnings: list[str],
        result: Outcome,
    ) -> None:
        """Output row, task finished, charge committed, webhook queued: one transaction."""
        now = self.clock.now()
        async with self.sessions.begin() as session:
            await storage_repo.add_output(
                session,
                name=name,
                task_id=task_id,
                content_type=images.CONTENT_TYPES[req.output_format],
                size=size,
                now=now,
                expires_at=now + self.limits.output_ttl,
            )
            # An edit that applied nothing (the input comes back, with warnings saying why)
            # is not charged: the reservation is released, the task still finishes.
            charged = not result.nothing_applied
            task = await tasks_repo.finish_task(
                session,
                task_id,
                output_name=name,
                warnings=warnings,
                engine=result.engine,
                applied=result.applied,
                charged=charged,
                upstream_cost=result.upstream_cost,
                now=now,
            )
            if task is None:
                # Failed meanwhile (e.g. by the orphan sweeper): its credits were released.
                raise UpstreamTimeout("Task expired before it finished")
            if charged:
                await accounts_repo.commit_charge(
                    session, account_id, req.model.price, task_id=task_id, now=now
                )
            else:
                await accounts_repo.release(
                    session, account_id, req.model.price, task_id=task_id, now=now
                )
            # Outbox: the webhook is due exactly when this transaction commits, never lost.
            await enqueue_webhook(session, task, public_url=self.public_url, now=now)

    async def _fail(
        self, account_id: str, task_id: str, price: int, error: str, status: int
    ) -> None:
        try:
            await fail_and_refund(
                self.sessions, self.clock, account_id, task_id, price, error, status
            )
        except Exception:
            # The client still gets the real error and its task_id; the orphan sweep fails
            # and refunds the task after IMAGINE_RESERVATION_TIMEOUT.
            log.exception("could not fail and refund the task now", task_id=task_id)
            return
        self.outbox.notify()


async def _edit(
    engine: Engine,
    image: Image.Image,
    prompt: str,
    options: EditOptions,
    progress: TaskProgress | None,
) -> EditResult:
    """`engine.edit`, with the engine's progress written to the task while it runs."""
    if progress is None:
        return await engine.edit(image, prompt, options)
    options = replace(options, progress=progress.engine_fraction)
    results: list[EditResult] = []
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(progress.follow_engine)
            results.append(await engine.edit(image, prompt, options))
            group.cancel_scope.cancel()
    except BaseExceptionGroup as group_error:
        if len(group_error.exceptions) == 1:
            raise group_error.exceptions[0] from None
        raise
    return results[0]


def _options(req: EditRequest, ratio: str) -> EditOptions:
    width, height = ASPECT_SIZES[ratio]
    return EditOptions(
        model=req.model.id,
        aspect_ratio=ratio,
        width=width,
        height=height,
        seed=req.seed,
        output_format=req.output_format,
        params=req.params,
    )


def _ratio_for(asked: str, width: int, height: int) -> str:
    """The asked ratio, or for `auto` the table's ratio nearest the (oriented) input."""
    return nearest_ratio(width, height) if asked == AUTO_RATIO else asked


def _prepare(data: bytes, max_pixels: int, asked: str) -> tuple[Image.Image, str]:
    # For `auto` the ratio is known only after decoding (EXIF orientation included), so
    # draft-decode for the largest side any ratio needs.
    draft = (1360, 1360) if asked == AUTO_RATIO else ASPECT_SIZES[asked]
    decoded = images.decode(data, max_pixels=max_pixels, draft_size=draft)
    ratio = _ratio_for(asked, *decoded.size)
    return images.cover(decoded, *ASPECT_SIZES[ratio]), ratio


def _finish_image(img: Image.Image, width: int, height: int, fmt: str) -> bytes:
    if img.size != (width, height):
        img = images.cover(img, width, height)
    return images.encode(img, "jpeg" if fmt == "jpeg" else "png")
