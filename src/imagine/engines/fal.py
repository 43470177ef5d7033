"""fal engine: FLUX.1 Kontext through fal's queue API (queue.fal.run)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import structlog
from PIL import Image

from imagine.engines.base import EditOptions, release_source
from imagine.engines.hosted import HostedEngine, HostedProvider, malformed
from imagine.engines.limiter import SlotLimiter
from imagine.engines.payload import data_uri_of, input_data_uri
from imagine.engines.upstream import Deadline, UpstreamClient, json_object
from imagine.errors import ContentPolicyViolation

log = structlog.get_logger(__name__)

# Hosts fal serves result files from (https only); the queue host itself is always allowed.

_RUNNING = frozenset({"IN_QUEUE", "IN_PROGRESS"})


def _content_refusal(response: httpx.Response) -> bool:
    """True for fal's `content_policy_violation` error shape (detail: [{type: ...}])."""
    try:
        body = response.json()
    except ValueError:
        return False
    detail = body.get("detail") if isinstance(body, dict) else body
    return isinstance(detail, list) and any(
        isinstance(d, dict) and d.get("type") == "content_policy_violation" for d in detail
    )


def fal_status_step(body: dict[str, Any]) -> str | None:
    """Map one status answer: "done" once COMPLETED, None while queued or running."""
    status = body.get("status")
    if status in _RUNNING:
        return None
    if status == "COMPLETED":
        return "done"
    raise malformed("fal")


def fal_result_url(body: dict[str, Any]) -> str:
    """The first image URL of a result, refusing flagged (NSFW-blanked) results."""
    nsfw = body.get("has_nsfw_concepts")
    if isinstance(nsfw, list) and any(nsfw):
        log.info("upstream refused on content grounds", engine="fal")
        raise ContentPolicyViolation()
    images = body.get("images")
    first = images[0] if isinstance(images, list) and images else None
    url = first.get("url") if isinstance(first, dict) else None
    if not isinstance(url, str):
        raise malformed("fal")
    return url


# FLUX.2 on fal ("Flux 2 Pro API" reference, and the "Flux 2 Max" / "Flux 2 Flex" model
# pages): editing and text-to-image are two apps (fal-ai/flux-2-pro/edit and
# fal-ai/flux-2-pro). Input: `prompt`, `image_urls` (a list; edit app only), `image_size`
# (a preset name or an ImageSize {width, height}), `seed`, `safety_tolerance` "1"…"5" (a
# string), `enable_safety_checker`, `output_format` jpeg/png, `sync_mode`; flex adds
# `guidance_scale` (1.5–10), `num_inference_steps` (2–50) and `enable_prompt_expansion`.
FLUX2_MAX_INPUTS = 8
# Our request fields (catalog params) under fal's names for FLUX.2 [flex].
FLUX2_PARAM_NAMES = {
    "guidance": "guidance_scale",
    "steps": "num_inference_steps",
    "prompt_upsampling": "enable_prompt_expansion",
}
FAL_MIN_STEPS = 2  # fal's flex takes 2..50 steps (the provider's own API 1..50)


class FalEngine(HostedEngine):
    """FLUX.1 Kontext [pro]/[max] and FLUX.2 [pro]/[max]/[flex] on fal."""

    name = "fal"
    flux2_max_inputs = FLUX2_MAX_INPUTS

    def __init__(
        self,
        upstream: UpstreamClient,
        base_url: str,
        app: str,
        limiters: Sequence[SlotLimiter],
        deadline_s: float,
        safety_tolerance: int = 2,
        queue_timeout: float = 30.0,
        sizing: str = "aspect_ratio",
        generate_id: str | None = None,
    ) -> None:
        super().__init__(upstream, base_url, limiters, deadline_s, safety_tolerance, queue_timeout)
        self.app = app
        self.generate_app = generate_id or app
        self.sizing = sizing
        self.safety_tolerance = max(1, self.safety_tolerance)  # fal takes 1..2

    async def prepare(
        self, image: Image.Image, prompt: str, options: EditOptions
    ) -> dict[str, Any]:
        """The queue input: data-URI image, ratio, format, tolerance (fal takes it as a string);
        for FLUX.2 every input in order in `image_urls` (none for text to image), the
        table's pixels as `image_size` and any flex tuning under fal's names."""
        if self.sizing == "width_height":
            return await self._flux2_input(image, prompt, options)
        body: dict[str, Any] = {
            "prompt": prompt,
            "image_url": await input_data_uri(image, options),
            "aspect_ratio": options.aspect_ratio,
            "output_format": options.output_format,
            "safety_tolerance": str(self.safety_tolerance),
            "num_images": 1,
        }
        if options.seed is not None:
            body["seed"] = options.seed
        return body

    async def _flux2_input(
        self, image: Image.Image, prompt: str, options: EditOptions
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"prompt": prompt}
        if options.has_input:
            body["image_urls"] = [await input_data_uri(image, options)] + [
                await data_uri_of(reference) for reference in options.references
            ]
        body["image_size"] = {"width": options.width, "height": options.height}
        body["output_format"] = options.output_format
        body["safety_tolerance"] = str(self.safety_tolerance)
        if options.seed is not None:
            body["seed"] = options.seed
        for name, value in options.params.items():
            if name == "steps" and isinstance(value, int):
                value = max(FAL_MIN_STEPS, value)
            body[FLUX2_PARAM_NAMES[name]] = value
        return body

    def _refused(self, response: httpx.Response) -> None:
        if response.status_code == 422 and _content_refusal(response):
            log.info("upstream refused on content grounds", engine=self.name)
            raise ContentPolicyViolation()
        if 400 <= response.status_code < 500:
            raise self.rejected(response)

    async def run(self, body: dict[str, Any], options: EditOptions, deadline: Deadline) -> str:
        """Enqueue, poll status_url until COMPLETED, then read response_url."""
        app = self.app if options.has_input else self.generate_app
        queue_url = f"{self.base_url}/{app}"
        response = await self.upstream.send("POST", queue_url, deadline, "submit", json=body)
        body.clear()  # the upload is the provider's now: hold no copy while polling
        self._refused(response)
        answer = json_object(response, self.name)
        request_id = answer.get("request_id")
        if not isinstance(request_id, str):
            raise malformed(self.name)
        status_url = answer.get("status_url", f"{queue_url}/requests/{request_id}/status")
        response_url = answer.get("response_url", f"{queue_url}/requests/{request_id}")
        status_url = self.upstream.hosts.check(status_url)
        response_url = self.upstream.hosts.check(response_url)
        release_source(options)  # accepted: nothing needs the input again
        log.info(
            "upstream task accepted", engine=self.name, model=options.model, task=request_id[:64]
        )
        cancel = ("PUT", answer.get("cancel_url", f"{queue_url}/requests/{request_id}/cancel"))
        await self.poll(status_url, deadline, fal_status_step, cancel=cancel)
        result = await self.upstream.send("GET", response_url, deadline, "poll")
        self._refused(result)
        return fal_result_url(json_object(result, self.name))


PROVIDER = HostedProvider(
    name="fal",
    engine=FalEngine,
    auth_header="Authorization",
    auth_scheme="Key",
    key_setting="fal_api_key",
    base_url_setting="fal_base_url",
    delivery_hosts_setting="fal_delivery_hosts",
    max_in_flight_setting="fal_max_in_flight",
)
