"""Failover across upstreams: next engine on an outage, never after a task was accepted."""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from PIL import Image

from imagine.clock import Clock
from imagine.engines.base import EditOptions, EditResult, Engine, uses_source
from imagine.engines.hosted import DeadlineAware
from imagine.engines.upstream import Deadline, SubmitTimeout, UpstreamOutage
from imagine.errors import ImagineError, RateLimited, UpstreamUnavailable

log = structlog.get_logger(__name__)

# Failures that prove the task never started upstream, so another engine may take it.
# Everything else is final: a moderation refusal, a rejected request, a failure or a
# timeout after the provider accepted the task (trying elsewhere would double-submit).
RETRYABLE: tuple[type[ImagineError], ...] = (
    UpstreamUnavailable,  # 402 out of credits, key rejected
    UpstreamOutage,  # 5xx / unreachable on submit, after bounded retries
    SubmitTimeout,  # deadline passed (e.g. 429 storm) before acceptance
    RateLimited,  # our own per-upstream queue for that provider stayed full
)


class FailoverEngine:
    """Tries its engines in order under one shared deadline."""

    def __init__(
        self, engines: Sequence[tuple[str, Engine]], clock: Clock, deadline_s: float
    ) -> None:
        if not engines:
            raise ValueError("failover needs at least one engine")
        self.engines = list(engines)
        self.clock = clock
        self.deadline_s = deadline_s

    @property
    def uses_source(self) -> bool:
        """True when every engine takes EditOptions.source bytes (all hosted)."""
        return all(uses_source(engine) for _, engine in self.engines)

    @property
    def names(self) -> list[str]:
        """Engine names in the order they are tried."""
        return [name for name, _ in self.engines]

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        """Return the first engine's result; on a pre-acceptance outage try the next one."""
        deadline = Deadline(self.clock, self.deadline_s)
        last: ImagineError | None = None
        for index, (name, engine) in enumerate(self.engines):
            # Each engine may spend its share of what is left on getting accepted.
            share = deadline.remaining() / (len(self.engines) - index)
            try:
                if isinstance(engine, DeadlineAware):
                    bounded = deadline.accept_within(share)
                    result = await engine.edit_by(image, prompt, options, bounded)
                else:
                    result = await engine.edit(image, prompt, options)
            except RETRYABLE as exc:
                last = exc
                following = self.engines[index + 1][0] if index + 1 < len(self.engines) else None
                log.warning(
                    "upstream unavailable, failing over",
                    engine=name,
                    error=type(exc).__name__,
                    next_engine=following,
                )
                continue
            if index:
                result.warnings.append(f"served by fallback engine {name}")
            return result
        assert last is not None
        raise last
