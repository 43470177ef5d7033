"""Talking to one hosted provider: deadlines, retries, 402/429 handling, checked downloads."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
import structlog
from pydantic import SecretStr

from imagine.clock import Clock
from imagine.engines.hosts import HostPolicy
from imagine.engines.payload import MAX_RESULT_BYTES, decode_data_uri
from imagine.errors import UpstreamFailed, UpstreamTimeout, UpstreamUnavailable
from imagine.logs import redact_url

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Phase = Literal["submit", "poll"]


class SubmitTimeout(UpstreamTimeout):
    """The deadline passed before the provider accepted the task: safe to try elsewhere."""


class UpstreamOutage(UpstreamFailed):
    """5xx or unreachable before the provider accepted the task: safe to try elsewhere."""

    def __init__(self) -> None:
        super().__init__("Upstream engine unavailable")


class Deadline:
    """A point in (injected) time by which the whole edit must be done.

    An optional earlier acceptance point bounds the time spent before the provider accepts
    the task (queueing, 429 waits, retries), so failover leaves time for the next engine.
    """

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._end = clock.now() + timedelta(seconds=seconds)
        self._accept_end = self._end

    def remaining(self, phase: Phase = "poll") -> float:
        """Seconds left (for getting the task accepted when phase is "submit"), never < 0."""
        end = self._accept_end if phase == "submit" else self._end
        return max((end - self._clock.now()).total_seconds(), 0.0)

    def expired(self) -> bool:
        """True once no time is left."""
        return self.remaining() <= 0.0

    def accept_within(self, seconds: float) -> Deadline:
        """The same deadline, with acceptance required within `seconds` from now."""
        child = Deadline(self._clock, 0)
        child._end = self._end
        child._accept_end = min(self._end, self._clock.now() + timedelta(seconds=seconds))
        return child


def backoff(initial: float = 0.5, factor: float = 1.5, cap: float = 4.0) -> Callable[[], float]:
    """A capped exponential delay sequence: each call returns the next delay."""
    state = [initial / factor]

    def next_delay() -> float:
        """The next delay in the sequence."""
        state[0] = min(state[0] * factor, cap)
        return state[0]

    return next_delay


class UpstreamClient:
    """One provider account: its auth headers (secret, never logged), hosts and HTTP client."""

    def __init__(
        self,
        name: str,
        http: httpx.AsyncClient,
        hosts: HostPolicy,
        auth_headers: Mapping[str, str | SecretStr],
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        call_timeout: float = 30.0,
        max_attempts: int = 3,
    ) -> None:
        self.name = name
        self.http = http
        self.hosts = hosts
        self.clock = clock
        self.sleep = sleep
        # Kept wrapped so no repr, traceback or debugger shows them; unwrapped per request.
        self._auth = {
            name: value if isinstance(value, SecretStr) else SecretStr(value)
            for name, value in auth_headers.items()
        }
        self._call_timeout = call_timeout
        self._max_attempts = max_attempts

    def __repr__(self) -> str:
        return f"UpstreamClient({self.name!r})"

    def _auth_headers(self) -> dict[str, str]:
        return {name: value.get_secret_value() for name, value in self._auth.items()}

    def _timeout_error(self, phase: Phase) -> UpstreamTimeout:
        return SubmitTimeout() if phase == "submit" else UpstreamTimeout()

    def retry_after(self, response: httpx.Response) -> float:
        """Seconds the provider asked us to wait (Retry-After: seconds or HTTP date)."""
        value = response.headers.get("retry-after", "").strip()
        try:
            return min(max(float(value), 0.0), 60.0)
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
            return min(max((when - self.clock.now()).total_seconds(), 0.0), 60.0)
        except (TypeError, ValueError):
            return 1.0

    async def send(
        self,
        method: str,
        url: str,
        deadline: Deadline,
        phase: Phase,
        *,
        json: object = None,
        headers: Mapping[str, str] | None = None,
        call_timeout: float | None = None,
    ) -> httpx.Response:
        """One logical call with retries; returns any answer that is not 402/401/403/429/5xx."""
        self.hosts.check(url)
        failures = 0
        delay = backoff(0.5, 2.0, 8.0)
        while True:
            remaining = deadline.remaining(phase)
            if remaining <= 0:
                raise self._timeout_error(phase)
            timeout = min(call_timeout or self._call_timeout, remaining)
            try:
                response = await self.http.request(
                    method,
                    url,
                    json=json,
                    headers={**self._auth_headers(), **(headers or {})},
                    timeout=timeout,
                    follow_redirects=False,
                    # The whole call (a held `Prefer: wait` answer included) within `timeout`;
                    # the client's own deadline only ever narrows it.
                    extensions={"deadline": timeout},
                )
            except httpx.InvalidURL:
                raise UpstreamFailed("Upstream returned an unexpected URL") from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request provably never left: refused, unresolvable, no TCP/TLS session
                # within the connect timeout, or no pooled connection. Safe to retry, even a
                # submission. A deadline passing after the body was sent is a different error
                # (DeadlineExceeded, ReadTimeout): handled below, never retried on submit.
                wait = await self._failed(phase, failures := failures + 1, delay(), deadline, exc)
                log.info("upstream unreachable, retrying", engine=self.name, wait=wait)
                continue
            except httpx.RequestError as exc:
                if phase == "submit":
                    # The provider may have accepted it: retrying anywhere could double-submit.
                    log.warning(
                        "upstream submission unconfirmed",
                        engine=self.name,
                        error=type(exc).__name__,
                    )
                    raise UpstreamFailed("Upstream did not confirm the submission") from None
                await self._failed(phase, failures := failures + 1, delay(), deadline, exc)
                continue
            status = response.status_code
            if status == 429:
                wait = max(self.retry_after(response), 0.5)  # never a tight loop
                log.info(
                    "upstream over its concurrency limit, waiting", engine=self.name, wait=wait
                )
                if wait >= deadline.remaining(phase):
                    raise self._timeout_error(phase)
                await self.sleep(wait)
                continue
            if status == 402:
                log.error(
                    "UPSTREAM ACCOUNT OUT OF CREDITS: top up the provider account", engine=self.name
                )
                raise self._refused(phase)
            if status in (401, 403):
                log.error(
                    "UPSTREAM KEY REJECTED (or account locked): check the provider key",
                    engine=self.name,
                    status=status,
                )
                raise self._refused(phase)
            if status >= 500:
                await self._failed(phase, failures := failures + 1, delay(), deadline, None)
                continue
            if json is not None:
                # Answered: the upload is the provider's now. The answer would otherwise keep
                # the encoded body (a third larger than the input) through `response.request`
                # for as long as the edit polls: ~300 KB per held edit, measured.
                response.request = httpx.Request(method, url)
            return response

    @staticmethod
    def _refused(phase: Phase) -> UpstreamUnavailable | UpstreamFailed:
        """The provider refused the account: before acceptance another engine may take the
        task (503, failover); once it accepted, trying elsewhere would submit it twice."""
        if phase == "submit":
            return UpstreamUnavailable()
        return UpstreamFailed("Upstream refused the account while the task ran")

    async def _failed(
        self, phase: Phase, failures: int, wait: float, deadline: Deadline, exc: Exception | None
    ) -> float:
        """Account for one transient failure: sleep before the next try, or give up."""
        log.debug("upstream transient failure", engine=self.name, error=repr(exc))
        if failures >= self._max_attempts:
            log.warning("upstream failing", engine=self.name, phase=phase, attempts=failures)
            raise UpstreamOutage() if phase == "submit" else UpstreamFailed()
        if wait >= deadline.remaining(phase):
            raise self._timeout_error(phase)
        await self.sleep(wait)
        return wait

    async def get_json(self, url: str, deadline: Deadline) -> dict[str, Any]:
        """GET a status document; any non-2xx or non-object answer is UpstreamFailed."""
        response = await self.send("GET", url, deadline, "poll")
        return json_object(response, self.name)

    async def download(
        self, url: str, deadline: Deadline, max_bytes: int = MAX_RESULT_BYTES, max_hops: int = 3
    ) -> bytes:
        """Fetch a result at once: no auth headers, every redirect hop host-checked, size capped."""
        if url.startswith("data:"):
            return decode_data_uri(url, max_bytes)
        delay = backoff(0.5, 2.0, 4.0)
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await self._download_once(url, deadline, max_bytes, max_hops)
            except _Transient as exc:
                log.debug("upstream result download failed", engine=self.name, error=str(exc))
                wait = delay()
                if attempt == self._max_attempts or wait >= deadline.remaining():
                    break
                await self.sleep(wait)
        log.warning("upstream result could not be downloaded", engine=self.name)
        raise UpstreamFailed("Upstream result could not be downloaded")

    async def _download_once(
        self, url: str, deadline: Deadline, max_bytes: int, max_hops: int
    ) -> bytes:
        for _ in range(max_hops + 1):
            self.hosts.check(url)
            log.debug("downloading upstream result", engine=self.name, url=redact_url(url))
            timeout = min(self._call_timeout, deadline.remaining())
            if timeout <= 0:
                raise UpstreamTimeout()
            try:
                async with (
                    asyncio.timeout(timeout),
                    self.http.stream(
                        "GET", url, timeout=timeout, follow_redirects=False
                    ) as response,
                ):
                    if response.is_redirect and "location" in response.headers:
                        url = str(response.url.join(response.headers["location"]))
                        continue
                    if response.status_code >= 500:
                        raise _Transient(f"status {response.status_code}")
                    if response.status_code != 200:
                        log.warning(
                            "upstream result not downloadable",
                            engine=self.name,
                            status=response.status_code,
                        )
                        raise UpstreamFailed("Upstream result expired or missing")
                    return await _read_capped(response, max_bytes)
            except (httpx.TimeoutException, TimeoutError):
                raise UpstreamTimeout() from None
            except httpx.InvalidURL:
                raise UpstreamFailed("Upstream returned an unexpected URL") from None
            except httpx.RequestError as exc:
                raise _Transient(type(exc).__name__) from None
        raise UpstreamFailed("Upstream result redirected too often")


class _Transient(Exception):
    """A download attempt failed in a way worth retrying."""


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The body, refusing anything larger than `max_bytes` (declared or actual)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise UpstreamFailed("Upstream result is too large")
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise UpstreamFailed("Upstream result is too large")
        chunks.append(chunk)
    return b"".join(chunks)


def json_object(response: httpx.Response, engine: str) -> dict[str, Any]:
    """The answer's JSON object, or UpstreamFailed for errors and malformed answers."""
    if not response.is_success:
        log.warning("upstream error answer", engine=engine, status=response.status_code)
        log.debug("upstream error body", engine=engine, body=response.text[:500])
        raise UpstreamFailed()
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        log.warning("upstream answer malformed", engine=engine)
        raise UpstreamFailed()
    return body
