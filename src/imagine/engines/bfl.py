"""Black Forest Labs API engine: submit a Kontext task, poll it, download the sample."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import structlog
from PIL import Image

from imagine.engines.base import EditOptions, release_source
from imagine.engines.hosted import HostedEngine, HostedProvider, malformed
from imagine.engines.limiter import SlotLimiter
from imagine.engines.payload import input_base64, input_base64_of
from imagine.engines.upstream import Deadline, UpstreamClient, json_object
from imagine.errors import ContentPolicyViolation, UpstreamFailed

log = structlog.get_logger(__name__)

# FLUX.2 takes up to 8 input images: input_image, input_image_2 … input_image_8.
MAX_INPUTS = 8

_PENDING = frozenset({"Pending"})
_MODERATED = frozenset({"Request Moderated", "Content Moderated"})
_FAILED = frozenset({"Error", "Task not found"})


def bfl_step(body: dict[str, Any]) -> str | None:
    """Map one polling answer: the sample URL when Ready, None while pending, else raise."""
    status = body.get("status")
    if status == "Ready":
        result = body.get("result")
        sample = result.get("sample") if isinstance(result, dict) else None
        if not isinstance(sample, str):
            raise malformed("bfl")
        return sample
    if status in _PENDING:
        return None
    if status in _MODERATED:
        log.info("upstream refused on content grounds", engine="bfl", status=status)
        raise ContentPolicyViolation()
    if status in _FAILED:
        log.warning("upstream task failed", engine="bfl", status=status)
        log.debug("upstream failure details", engine="bfl", details=str(body.get("details"))[:500])
        raise UpstreamFailed()
    raise malformed("bfl")


def image_field(index: int) -> str:
    """The body field of the `index`-th input (0-based): input_image, input_image_2, …"""
    return "input_image" if index == 0 else f"input_image_{index + 1}"


class BflEngine(HostedEngine):
    """FLUX models through the provider's API (or a regional base URL).

    `sizing` is the catalog's: "aspect_ratio" sends the ratio's name (FLUX.1 Kontext),
    "width_height" the ratio's pixels (FLUX.2, multiples of 16).
    """

    name = "bfl"
    max_inputs = MAX_INPUTS
    text_to_image = True

    def __init__(
        self,
        upstream: UpstreamClient,
        base_url: str,
        endpoint: str,
        limiters: Sequence[SlotLimiter],
        deadline_s: float,
        safety_tolerance: int = 2,
        queue_timeout: float = 30.0,
        sizing: str = "aspect_ratio",
        generate_id: str | None = None,
    ) -> None:
        super().__init__(upstream, base_url, limiters, deadline_s, safety_tolerance, queue_timeout)
        self.endpoint = endpoint
        self.sizing = sizing

    async def prepare(
        self, image: Image.Image, prompt: str, options: EditOptions
    ) -> dict[str, Any]:
        """The submit body: base64 inputs in order (source bytes or PNG), the size (ratio
        name or pixels), format, tolerance. Text-to-image sends no input image."""
        body: dict[str, Any] = {"prompt": prompt}
        if options.has_input:
            body["input_image"] = await input_base64(image, options)
            for index, reference in enumerate(options.references[: MAX_INPUTS - 1], start=1):
                body[image_field(index)] = await input_base64_of(reference)
        if self.sizing == "width_height":
            body["width"], body["height"] = options.width, options.height
        else:
            body["aspect_ratio"] = options.aspect_ratio
        body["output_format"] = options.output_format
        # BFL allows up to 6 without an input image, at most 2 with one.
        body["safety_tolerance"] = self.safety_tolerance
        body["prompt_upsampling"] = False
        if options.seed is not None:
            body["seed"] = options.seed
        # FLUX.2 [flex] tuning, under the provider's own names (guidance, steps,
        # prompt_upsampling); only models whose catalog entry lists them get any.
        body.update(options.params)
        return body

    async def run(self, body: dict[str, Any], options: EditOptions, deadline: Deadline) -> str:
        """Submit, then poll the returned polling URL (checked against the provider's hosts)."""
        response = await self.upstream.send(
            "POST", f"{self.base_url}/v1/{self.endpoint}", deadline, "submit", json=body
        )
        body.clear()  # the upload is the provider's now: hold no copy while polling
        if response.status_code in (400, 422):
            raise self.rejected(response)
        answer = json_object(response, self.name)
        task_id = answer.get("id")
        polling_url = answer.get("polling_url")
        if polling_url is None and isinstance(task_id, str):
            polling_url = f"{self.base_url}/v1/get_result?id={quote(task_id)}"
        if not isinstance(polling_url, str):
            raise malformed(self.name)
        release_source(options)  # accepted: nothing needs the input again
        cost = answer.get("cost")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            options.receipt.cost = float(cost)
        log.info(
            "upstream task accepted",
            engine=self.name,
            model=options.model,
            task=str(task_id)[:64],
            cost=cost if isinstance(cost, (int, float)) else None,
        )
        return await self.poll(self.upstream.hosts.check(polling_url), deadline, bfl_step)


PROVIDER = HostedProvider(
    name="bfl",
    engine=BflEngine,
    auth_header="x-key",
    auth_scheme="",
    key_setting="bfl_api_key",
    base_url_setting="bfl_base_url",
    delivery_hosts_setting="bfl_delivery_hosts",
    max_in_flight_setting="bfl_max_in_flight",
    # Kontext [max] has its own, lower cap per key (6) besides the key's overall one (24).
    endpoint_caps={"flux-kontext-max": "bfl_max_in_flight_kontext_max"},
    # "Get the user's credits" (the provider's API reference): GET /v1/credits with x-key
    # answers {"credits": <number>}, the account's current balance.
    balance_path="/v1/credits",
    balance_field="credits",
)
