"""The Idempotency-Key rule (Stripe's semantics), independent of HTTP.

The first request with a key inserts a running claim; the unique (account_id, key) makes
exactly one of concurrent duplicates win, on SQLite and PostgreSQL alike. Its outcome is
then stored and replayed to every later request with the same key and the same request
fingerprint, for `ttl`. A duplicate that arrives while the first still runs polls the row
(with backoff, holding no database connection while it sleeps) for up to `wait` seconds,
then replays, or gets 409. The same key with another request gets 422.

Outcomes asking to be retried (429 and 503: refused before anything was charged or ran)
are not stored: the claim is released so that a retry with the same key runs. So is a
request that never produced an answer (client gone, crash). Every other outcome is stored,
errors included (402, 400 for an image that could not be used, 422, 502, 504…): they describe
what the request did, and a new attempt wants a new key.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anyio
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.clock import Clock
from imagine.errors import ImagineError, ServiceBusy
from imagine.idempotency import repository
from imagine.idempotency.repository import NewClaim

log = structlog.get_logger(__name__)

# Answers that ask the client to retry: never stored, the key is released.
RETRYABLE_STATUSES = frozenset({429, 503})

_FIRST_POLL = 0.05
_MAX_POLL = 1.0
_MAX_RETRIES = 5


class KeyReused(ImagineError):
    """422: the key was first used with a different request."""

    status = 422

    def __init__(self, first_request: str) -> None:
        super().__init__(
            "Idempotency-Key was already used with a different request"
            f" (first: {first_request} with other parameters); use a new key"
        )


class KeyInProgress(ImagineError):
    """409: the first request with this key is still running."""

    status = 409
    retry_after: int | None = 1

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still in progress; retry shortly")


@dataclass(frozen=True)
class Outcome:
    """A response to store and replay: status, JSON body and the headers that matter."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IdempotentRequest:
    """Who sent what: the account, its key and the canonical request's fingerprint."""

    account_id: str
    key: str
    fingerprint: str
    request: str  # "POST /api/v1/imagine"


class IdempotencyGuard:
    """Runs a request at most once per (account, key) within `ttl`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        ttl: timedelta,
        wait: float,
        lock: timedelta,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.ttl = ttl
        self.wait = wait
        # A claim running longer than this is presumed lost (the process died).
        self.lock = lock

    async def run(
        self, req: IdempotentRequest, work: Callable[[], Awaitable[Outcome]]
    ) -> tuple[Outcome, bool]:
        """The outcome of `work` (run now), or the stored one (True: replayed)."""
        claim_id = await self._claim_or_replay(req)
        if isinstance(claim_id, Outcome):
            return claim_id, True
        try:
            outcome = await work()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._release(claim_id)
            raise
        with anyio.CancelScope(shield=True):
            if outcome.status in RETRYABLE_STATUSES:
                await self._release(claim_id)
            else:
                await self._store(claim_id, outcome)
        return outcome, False

    async def _claim_or_replay(self, req: IdempotentRequest) -> str | Outcome:
        give_up = anyio.current_time() + self.wait
        delay = _FIRST_POLL
        retries = 0  # immediate retries: the row vanished or was dead between two steps
        while True:
            claim_id = await self._try_claim(req)
            if claim_id is not None:
                return claim_id
            async with self.sessions() as session:
                row = await repository.find(session, req.account_id, req.key)
            now = self.clock.now()
            dead = row is not None and (
                row.expires_at <= now or (row.status_code is None and row.locked_until <= now)
            )
            if row is None or dead:
                retries += 1
                if retries > _MAX_RETRIES:
                    # Not a race any more (e.g. the insert fails for another reason).
                    raise ServiceBusy("Could not take the Idempotency-Key; retry shortly")
                if row is not None:
                    async with self.sessions.begin() as session:
                        await repository.drop_if_dead(session, row.id, now)
                continue
            if row.fingerprint != req.fingerprint:
                raise KeyReused(row.request)
            if row.status_code is not None:
                return Outcome(
                    row.status_code,
                    json.loads(row.response_body or "null"),
                    json.loads(row.response_headers or "{}"),
                )
            left = give_up - anyio.current_time()
            if left <= 0:
                raise KeyInProgress()
            # No connection is held while waiting for the first request to finish.
            await anyio.sleep(min(delay, left))
            delay = min(delay * 2, _MAX_POLL)

    async def _try_claim(self, req: IdempotentRequest) -> str | None:
        now = self.clock.now()
        claim = NewClaim(
            account_id=req.account_id,
            key=req.key,
            fingerprint=req.fingerprint,
            request=req.request,
            now=now,
            locked_until=now + self.lock,
            expires_at=now + self.ttl,
        )
        try:
            async with self.sessions.begin() as session:
                return await repository.insert_claim(session, claim)
        except IntegrityError:
            return None

    async def _store(self, claim_id: str, outcome: Outcome) -> None:
        try:
            async with self.sessions.begin() as session:
                stored = await repository.complete(
                    session,
                    claim_id,
                    status=outcome.status,
                    body=json.dumps(outcome.body, separators=(",", ":")),
                    headers=json.dumps(dict(outcome.headers)),
                )
            if not stored:
                log.warning("idempotency claim lost before its outcome was stored")
        except Exception:
            # The client still gets its answer; the claim frees itself after `lock`.
            log.exception("could not store the idempotent outcome")

    async def _release(self, claim_id: str) -> None:
        try:
            async with self.sessions.begin() as session:
                await repository.release(session, claim_id)
        except Exception:
            log.exception("could not release the idempotency key")


async def sweep_expired_keys(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, *, batch: int = 500, batches: int = 20
) -> int:
    """Delete expired keys, `batch` rows per transaction, at most `batches` per sweep."""
    total = 0
    for _ in range(batches):
        async with sessions.begin() as session:
            removed = await repository.delete_expired(session, clock.now(), batch)
        total += removed
        if removed < batch:
            break
    return total
