"""Uploads: store and record an input image; read it back for its owner only.

An upload's `image_url` is `<public_url>/api/v1/uploads/<id>`. The pipeline recognises that
exact prefix and reads the bytes from the store (never an HTTP call to itself). Another
account's upload, an expired one and an unknown id all read as "unusable", alike.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import anyio
import anyio.to_thread
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.clock import Clock
from imagine.db.schema import Upload
from imagine.errors import ImageRejected, ImagineError
from imagine.storage.store import Store, new_object_name
from imagine.uploads import repository
from imagine.uploads.inspection import inspect_upload

log = structlog.get_logger(__name__)

UPLOADS_PATH = "/api/v1/uploads/"
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UNUSABLE = (
    "image_url refers to an upload that does not exist, has expired or belongs to another"
    " account; upload the image again"
)


class TooManyUploads(ImagineError):
    """429: the account holds as many live uploads as it may."""

    status = 429
    retry_after: int | None = 60

    def __init__(self, most: int) -> None:
        super().__init__(
            f"Too many uploads: at most {most} unexpired uploads per account; wait for older"
            " ones to expire"
        )


@dataclass(frozen=True)
class UploadLimits:
    """Caps on uploads (from settings)."""

    max_bytes: int
    max_pixels: int
    ttl: timedelta
    max_live: int


class Uploads:
    """Accepts uploads and serves them back to their account (the HTTP route and the
    pipeline's `image_url` both go through here)."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        store: Store,
        clock: Clock,
        limits: UploadLimits,
        decode_slots: anyio.CapacityLimiter,
        public_url: str,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.clock = clock
        self.limits = limits
        self.decode_slots = decode_slots
        self.prefix = public_url + UPLOADS_PATH

    def url_of(self, upload_id: str) -> str:
        """The upload's image_url."""
        return self.prefix + upload_id

    def is_upload_url(self, url: str) -> bool:
        """Whether `url` names one of this server's uploads (by its exact prefix)."""
        return url.startswith(self.prefix)

    async def check_room(self, account_id: str) -> None:
        """429 when the account already holds its most live uploads (before the body is read)."""
        async with self.sessions() as session:
            live = await repository.count_live(session, account_id, self.clock.now())
        if live >= self.limits.max_live:
            raise TooManyUploads(self.limits.max_live)

    async def accept(self, account_id: str, data: bytes) -> Upload:
        """Validate `data` like a fetched input, store it and record it."""
        inspected = await anyio.to_thread.run_sync(
            functools.partial(inspect_upload, data, max_pixels=self.limits.max_pixels),
            limiter=self.decode_slots,
        )
        name = new_object_name(inspected.extension)
        now = self.clock.now()
        upload = Upload(
            id=str(uuid.uuid4()),
            account_id=account_id,
            object_name=name,
            content_type=inspected.content_type,
            size=len(data),
            width=inspected.width,
            height=inspected.height,
            created_at=now,
            expires_at=now + self.limits.ttl,
        )
        # Stored and recorded together: cut half-way, bytes without a row would never be swept.
        with anyio.CancelScope(shield=True):
            await self.store.put(name, data)
            try:
                async with self.sessions.begin() as session:
                    # Checked again in the writing transaction: the first check ran before
                    # the body arrived (concurrent bodies per key are capped, so this bounds
                    # any overshoot to that cap).
                    if await repository.count_live(session, account_id, now) >= (
                        self.limits.max_live
                    ):
                        raise TooManyUploads(self.limits.max_live)
                    await repository.add_upload(session, upload)
            except BaseException:
                await self.store.delete(name)
                raise
        log.info("upload stored", upload_id=upload.id, account=account_id, bytes=len(data))
        return upload

    async def own(self, account_id: str, upload_id: str) -> tuple[Upload, bytes] | None:
        """The account's live upload and its bytes; None for anything else."""
        if not _ID.match(upload_id):
            return None
        async with self.sessions() as session:
            upload = await repository.live_upload(session, upload_id, account_id, self.clock.now())
        if upload is None:
            return None
        data = await self.store.get(upload.object_name)
        return None if data is None else (upload, data)

    async def input_bytes(self, account_id: str, url: str) -> bytes:
        """The bytes behind an upload `image_url` of `account_id`; ImageRejected otherwise."""
        found = await self.own(account_id, url.removeprefix(self.prefix))
        if found is None:
            raise ImageRejected(UNUSABLE)
        return found[1]
