"""Sending: one signed POST per attempt, and the loop that claims due deliveries and sends them."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.clock import Clock
from imagine.fetch.policy import DestinationRefused
from imagine.webhooks import repository as repo
from imagine.webhooks.repository import AttemptRecord, Claim
from imagine.webhooks.schedule import RandomSource, next_delay, parse_retry_after
from imagine.webhooks.signal import OutboxSignal
from imagine.webhooks.signing import signature_header

log = structlog.get_logger(__name__)

MAX_RECORDED_BODY = 1024  # bytes of the receiver's answer kept in the attempt record
CONCURRENCY = 16  # attempts in flight per worker
LEASE_MARGIN = timedelta(seconds=30)  # a claim outlives the attempt timeout by this much


@dataclass(frozen=True)
class Outcome:
    """What the receiver did with one attempt."""

    status_code: int | None
    body: str | None
    error: str | None
    duration_ms: int
    retry_after: str | None = None
    refused: bool = False  # the outbound address policy refused the destination

    @property
    def delivered(self) -> bool:
        """A 2xx answer: done."""
        return self.status_code is not None and 200 <= self.status_code < 300


def request_headers(claim: Claim, timestamp: int) -> dict[str, str]:
    """Content type, the client's own secret, and the Standard Webhooks headers."""
    headers = {
        "content-type": "application/json",
        "accept-encoding": "identity",
        "webhook-id": claim.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            claim.signing_secrets, claim.id, timestamp, claim.payload.encode()
        ),
    }
    if claim.secret is not None:
        headers["x-webhook-secret"] = claim.secret
    return headers


async def _read_capped(response: httpx.Response) -> bytes:
    data = b""
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) >= MAX_RECORDED_BODY:
            break
    return data[:MAX_RECORDED_BODY]


async def send(http: httpx.AsyncClient, claim: Claim, *, now: datetime, deadline: float) -> Outcome:
    """POST the payload once; never raises for anything the receiver or network does."""
    headers = request_headers(claim, int(now.timestamp()))
    started = time.monotonic()
    code: int | None = None
    body: str | None = None
    error: str | None = None
    retry_after: str | None = None
    refused = False
    try:
        # httpx timeouts are per phase; fail_after also caps a receiver that drips bytes.
        with anyio.fail_after(deadline):
            async with http.stream(
                "POST",
                claim.url,
                content=claim.payload.encode(),
                headers=headers,
                timeout=httpx.Timeout(deadline),
                follow_redirects=False,
            ) as response:
                code = response.status_code
                retry_after = response.headers.get("retry-after")
                body = (await _read_capped(response)).decode("utf-8", errors="replace")
    except (TimeoutError, httpx.TimeoutException):
        error = f"timed out after {deadline:g} s"
    except DestinationRefused as exc:
        error, refused = f"webhook_url refused: {exc.reason} (see IMAGINE_FETCH_ALLOW)", True
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    except Exception as exc:  # e.g. the outbound address policy refusing the destination
        # Recorded like any failed attempt, so the retry cap still applies.
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((time.monotonic() - started) * 1000)
    return Outcome(code, body, error, duration_ms, retry_after, refused)


def decide(
    claim: Claim,
    outcome: Outcome,
    started_at: datetime,
    now: datetime,
    *,
    schedule: Sequence[float],
    rng: RandomSource,
) -> AttemptRecord:
    """Delivered, retry later (when), or give up: the record of one attempt."""
    error = outcome.error
    status, next_at = repo.PENDING, None
    if outcome.delivered:
        status = repo.DELIVERED
    elif outcome.status_code == 410:
        status, error = repo.FAILED, "receiver answered 410 Gone; not retried"
    elif outcome.refused:
        # A private or reserved destination stays refused: retrying for a day helps no one.
        # Once the operator opens it, `imagine webhooks redeliver` sends it again.
        status, error = repo.FAILED, f"{error}; not retried"
    else:
        if error is None and outcome.status_code is not None:
            error = f"HTTP {outcome.status_code}"
        retry_after = None
        if outcome.status_code in (429, 503):
            retry_after = parse_retry_after(outcome.retry_after, now)
        delay = next_delay(claim.attempts + 1, schedule, rng, retry_after)
        if delay is None:
            status = repo.FAILED
        else:
            next_at = now + delay
    return AttemptRecord(
        started_at=started_at,
        duration_ms=outcome.duration_ms,
        status_code=outcome.status_code,
        response_body=outcome.body,
        error=error,
        new_status=status,
        next_attempt_at=next_at,
    )


def worker_name() -> str:
    """This process, as the attempt records name it."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class DeliveryPolicy:
    """How deliveries are sent and retried (from settings)."""

    timeout: float
    poll_interval: float
    retry_schedule: Sequence[float]  # seconds after each failed attempt


class Deliverer:
    """Claims due deliveries from the shared database and sends them, a few at a time."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        http: httpx.AsyncClient,
        clock: Clock,
        rng: RandomSource,
        signal: OutboxSignal,
        policy: DeliveryPolicy,
        name: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.http = http
        self.clock = clock
        self.rng = rng
        self.signal = signal
        self.policy = policy
        self.name = name or worker_name()
        self.in_flight = 0
        self._slot_freed = anyio.Event()

    async def claim(self, limit: int) -> list[Claim]:
        """Lease up to `limit` due deliveries."""
        async with self.sessions.begin() as session:
            return await repo.claim_due(
                session,
                now=self.clock.now(),
                limit=limit,
                lease=timedelta(seconds=self.policy.timeout) + LEASE_MARGIN,
                token=f"{self.name}:{secrets.token_hex(4)}",
            )

    async def deliver(self, claim: Claim) -> None:
        """One attempt of a claimed delivery, recorded whatever happens."""
        clock = self.clock
        started_at = clock.now()
        outcome = await send(self.http, claim, now=started_at, deadline=self.policy.timeout)
        record = decide(
            claim,
            outcome,
            started_at,
            clock.now(),
            schedule=self.policy.retry_schedule,
            rng=self.rng,
        )
        with anyio.CancelScope(shield=True):
            async with self.sessions.begin() as session:
                kept = await repo.record_attempt(session, claim, self.name, record, now=clock.now())
        log.info(
            "webhook attempt",
            delivery=claim.id,
            task_id=claim.task_id,
            attempt=claim.attempts + 1,
            status_code=outcome.status_code,
            error=record.error,
            result=record.new_status,
            lease_kept=kept,
        )

    async def _deliver_guarded(self, claim: Claim) -> None:
        try:
            await self.deliver(claim)
        except Exception:
            # The lease runs out and another pass retries it (at-least-once).
            log.exception("webhook attempt could not be recorded", delivery=claim.id)
        finally:
            self.in_flight -= 1
            self._slot_freed.set()

    async def _wait_for_a_slot(self) -> None:
        self._slot_freed = anyio.Event()
        with anyio.move_on_after(self.policy.poll_interval):
            await self._slot_freed.wait()

    async def run(self) -> None:
        """Poll the outbox and send until cancelled, at most CONCURRENCY attempts at a time."""
        log.info("webhook delivery started", worker=self.name)
        signal = self.signal
        async with anyio.create_task_group() as tg:
            while True:
                signal.arm()
                free = CONCURRENCY - self.in_flight
                claims: list[Claim] = []
                if free > 0:
                    try:
                        claims = await self.claim(free)
                    except Exception:
                        log.exception("claiming webhook deliveries failed")
                for claim in claims:
                    self.in_flight += 1
                    tg.start_soon(self._deliver_guarded, claim)
                if free > 0 and len(claims) < free:
                    # Nothing more is due now: poll again later, or sooner when a task of
                    # this process ends with a webhook.
                    await signal.wait(self.policy.poll_interval)
                else:
                    # Busy, and maybe more is due: claim again as soon as an attempt ends.
                    await self._wait_for_a_slot()
