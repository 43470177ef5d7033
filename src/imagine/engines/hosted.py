"""What every hosted-upstream engine shares: deadline, slot, submit/poll, download, decode."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, Self, runtime_checkable

import httpx
import structlog
from PIL import Image

from imagine.engines.base import EditOptions, EditResult, Receipt
from imagine.engines.limiter import SlotLimiter, hold_all
from imagine.engines.payload import decode_result, fit, validate_result_bytes
from imagine.engines.poll_schedule import PollSchedule, TaskDurations
from imagine.engines.upstream import Deadline, UpstreamClient
from imagine.errors import ImagineError, UpstreamFailed, UpstreamTimeout

log = structlog.get_logger(__name__)

Step = Callable[[dict[str, Any]], str | None]


@runtime_checkable
class DeadlineAware(Protocol):
    """An engine that can finish within a deadline shared with other engines (failover)."""

    async def edit_by(
        self, image: Image.Image, prompt: str, options: EditOptions, deadline: Deadline
    ) -> EditResult:
        """Edit, giving up when `deadline` passes."""
        ...


@dataclass(frozen=True)
class HostedParts:
    """What the registry hands a hosted engine for one catalog model."""

    upstream: UpstreamClient
    base_url: str
    upstream_id: str  # the provider's id for the model (catalog `engines.<name>`)
    limiters: Sequence[SlotLimiter]
    deadline_s: float
    safety_tolerance: int
    queue_timeout: float
    sizing: str  # the catalog's: aspect_ratio (FLUX.1 Kontext) | width_height (FLUX.2)
    # The provider's id for text-to-image when it differs from `upstream_id` (fal's FLUX.2
    # apps); None: the same id serves both.
    generate_id: str | None = None


@dataclass(frozen=True)
class HostedProvider:
    """A hosted provider described as data: the registry builds its engines from this.

    The `*_setting` fields name Settings attributes (e.g. "bfl_api_key"). `auth_scheme` ""
    sends the key as it is in `auth_header`, else `<scheme> <key>`. `endpoint_caps` names,
    per upstream id, a setting with that endpoint's own in-flight cap (held before the
    key's overall cap); `balance_path` an endpoint reporting the account's balance.
    Adding a provider: an engine module with one `PROVIDER` and its
    settings, listed in registry.HOSTED.
    """

    name: str
    engine: type[HostedEngine]
    auth_header: str
    auth_scheme: str
    key_setting: str
    base_url_setting: str
    delivery_hosts_setting: str
    max_in_flight_setting: str
    endpoint_caps: Mapping[str, str] = field(default_factory=dict)
    # GET <base URL><balance_path> answers the account's balance in `balance_field` (for the
    # operator's view, engines/readiness.py; never asked in the request path). None: the
    # provider has no such endpoint (or none this project verified).
    balance_path: str | None = None
    balance_field: str = "credits"


def malformed(engine: str) -> UpstreamFailed:
    """The error for an answer that does not follow the provider's documented shape."""
    log.warning("upstream answer malformed", engine=engine)
    return UpstreamFailed()


class HostedEngine(ABC):
    """A provider that takes a task, runs it asynchronously and hands back a result URL."""

    name = "hosted"
    # Takes EditOptions.source bytes as the upload and returns the provider's bytes.
    uses_source = True
    # What the provider's body can carry, per request shape (the catalog's `sizing`): input
    # images per task, and none at all (text to image). The registry does not route a model
    # to an engine that cannot serve it.
    max_inputs = 1
    text_to_image = False
    flux2_max_inputs = 0  # 0: it does not send the FLUX.2 shape ("width_height")

    @classmethod
    def takes(cls, sizing: str) -> tuple[int, bool]:
        """(input images per task, text-to-image) this engine can send for `sizing`."""
        if sizing == "width_height" and cls.flux2_max_inputs:
            return cls.flux2_max_inputs, True
        return cls.max_inputs, cls.text_to_image

    def __init__(
        self,
        upstream: UpstreamClient,
        base_url: str,
        limiters: Sequence[SlotLimiter],
        deadline_s: float,
        safety_tolerance: int = 2,
        queue_timeout: float = 30.0,
    ) -> None:
        self.upstream = upstream
        self.base_url = base_url.rstrip("/")
        self.limiters = list(limiters)
        self.deadline_s = deadline_s
        # Every provider allows at most 2 when an input image is sent (BFL's own rule).
        self.safety_tolerance = min(safety_tolerance, 2)
        self.queue_timeout = queue_timeout
        # How long this engine's recent tasks took: each task's polls are planned by it.
        self.durations = TaskDurations()

    def rejected(self, response: httpx.Response) -> UpstreamFailed:
        """The error for a request the provider refused as invalid (a 4xx); the provider's
        words go to the debug log only (they may quote the prompt)."""
        log.warning("upstream rejected the request", engine=self.name, status=response.status_code)
        log.debug("upstream rejection", engine=self.name, body=response.text[:500])
        return UpstreamFailed("Upstream rejected the request")

    @classmethod
    def from_parts(cls, parts: HostedParts) -> Self:
        """The engine for one catalog model (what the registry calls). Every provider's
        constructor takes (upstream, base URL, upstream id, limiters, deadline, safety
        tolerance, queue timeout) and the keywords `sizing` and `generate_id`."""
        make: Callable[..., Self] = cls
        return make(
            parts.upstream,
            parts.base_url,
            parts.upstream_id,
            parts.limiters,
            parts.deadline_s,
            parts.safety_tolerance,
            parts.queue_timeout,
            sizing=parts.sizing,
            generate_id=parts.generate_id,
        )

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        """Edit within this engine's own deadline (`upstream_deadline`)."""
        deadline = Deadline(self.upstream.clock, self.deadline_s)
        return await self.edit_by(image, prompt, options, deadline)

    async def edit_by(
        self, image: Image.Image, prompt: str, options: EditOptions, deadline: Deadline
    ) -> EditResult:
        """Submit, wait for the task while holding a provider slot, then fetch the result.

        With `options.source` the result is the provider's bytes, validated but neither
        decoded nor resampled (its native size); without, decoded and fitted as before.
        `run` empties the request body once submitted, so a held edit keeps no upload.
        """
        options = replace(options, receipt=Receipt())  # this attempt's own receipt
        request = await self.prepare(image, prompt, options)
        wait = min(self.queue_timeout, deadline.remaining("submit"))
        async with hold_all(self.limiters, wait):
            result_url = await self.run(request, options, deadline)
        data = await self.upstream.download(result_url, deadline)
        if options.source is not None:
            info = await validate_result_bytes(data)
            log.info(
                "upstream edit finished",
                engine=self.name,
                model=options.model,
                format=info.format,
                width=info.width,
                height=info.height,
            )
            result = EditResult(engine=self.name, data=data, format=info.format)
        else:
            edited = fit(await decode_result(data), options.width, options.height)
            log.info("upstream edit finished", engine=self.name, model=options.model)
            result = EditResult(image=edited, engine=self.name)
        result.upstream_cost = options.receipt.cost
        return result

    @abstractmethod
    async def prepare(
        self, image: Image.Image, prompt: str, options: EditOptions
    ) -> dict[str, Any]:
        """The provider's request body (encoding happens before a slot is taken)."""

    @abstractmethod
    async def run(self, body: dict[str, Any], options: EditOptions, deadline: Deadline) -> str:
        """Submit and wait; return the result URL or raise a mapped ImagineError.

        Clears `body` once the provider has it (the upload is not kept while polling)."""

    async def poll(
        self,
        url: str,
        deadline: Deadline,
        step: Step,
        first: dict[str, Any] | None = None,
        cancel: tuple[str, object] | None = None,
    ) -> str:
        """Poll `url` on a `PollSchedule` until `step` returns a value or raises.

        On the deadline, a provider that offers it (`cancel`: method and URL) is asked to
        cancel the task, so it stops running (and billing) for a result nobody will get.
        """
        try:
            return await self._poll(url, deadline, step, first)
        except UpstreamTimeout:
            if cancel is not None:
                await self._cancel(*cancel)
            raise

    async def _cancel(self, method: str, url: object) -> None:
        if not isinstance(url, str) or not self.upstream.hosts.allows(url):
            return
        try:
            await self.upstream.send(method, url, Deadline(self.upstream.clock, 5.0), "poll")
            log.info("upstream task cancelled after the deadline", engine=self.name)
        except (ImagineError, httpx.HTTPError):
            log.info("upstream task could not be cancelled", engine=self.name)

    async def _poll(
        self, url: str, deadline: Deadline, step: Step, first: dict[str, Any] | None
    ) -> str:
        self.upstream.hosts.check(url)
        clock = self.upstream.clock
        accepted = clock.now()
        schedule = PollSchedule(self.durations)
        body = first
        if body is None and (wait := schedule.before_first_poll()):
            await self.upstream.sleep(min(wait, deadline.remaining()))
        while True:
            if body is not None:
                elapsed = (clock.now() - accepted).total_seconds()
                outcome = step(body)
                if outcome is not None:
                    self.durations.record(elapsed)
                    return outcome
                delay = schedule.next_delay(elapsed)
                await self.upstream.sleep(min(delay, deadline.remaining()))
            body = await self.upstream.get_json(url, deadline)
