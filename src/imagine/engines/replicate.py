"""Replicate engine: FLUX.1 Kontext as Replicate official-model predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from PIL import Image

from imagine.engines.base import EditOptions, release_source
from imagine.engines.hosted import HostedEngine, HostedProvider, malformed
from imagine.engines.limiter import SlotLimiter
from imagine.engines.payload import data_uri_of, input_data_uri
from imagine.engines.upstream import Deadline, UpstreamClient, json_object
from imagine.errors import ContentPolicyViolation, UpstreamFailed

log = structlog.get_logger(__name__)

# Longest sync wait Replicate accepts in `Prefer: wait=<seconds>`.
REPLICATE_MAX_WAIT = 60

_RUNNING = frozenset({"starting", "processing"})
# Markers of a safety-filter refusal in a failed prediction's error (E005: flagged as sensitive).
_REFUSAL_MARKERS = ("e005", "sensitive", "nsfw", "moderat", "content policy")


def replicate_step(body: dict[str, Any]) -> str | None:
    """Map one prediction: its output URL once succeeded, None while running, else raise."""
    status = body.get("status")
    if status == "succeeded":
        output = body.get("output")
        if isinstance(output, list) and output:
            output = output[0]
        if not isinstance(output, str):
            raise malformed("replicate")
        return output
    if status in _RUNNING:
        return None
    if status == "failed":
        error = str(body.get("error") or "").lower()
        if any(marker in error for marker in _REFUSAL_MARKERS):
            log.info("upstream refused on content grounds", engine="replicate")
            raise ContentPolicyViolation()
        log.warning("upstream task failed", engine="replicate", status=status)
        log.debug("upstream failure details", engine="replicate", error=error[:500])
        raise UpstreamFailed()
    if status == "canceled":
        log.warning("upstream task canceled", engine="replicate")
        raise UpstreamFailed()
    raise malformed("replicate")


# FLUX.2 on Replicate (the model pages' input schemas, "black-forest-labs/flux-2-pro",
# "…/flux-2-max", "…/flux-2-flex" API tab): `input_images` (a list, up to 8; flex 10),
# `aspect_ratio` (the ratio name, or match_input_image / custom), `resolution` ("1 MP" …),
# `output_format` webp/jpg/png, `safety_tolerance` 1–5, `seed`; flex adds `guidance`
# (1.5–10), `steps` (1–50) and `prompt_upsampling`. Width/height apply only to "custom"
# and are rounded to multiples of 32, so the ratio name at 1 MP is sent: the table's size.
FLUX2_MAX_INPUTS = 8
FLUX2_RESOLUTION = "1 MP"


class ReplicateEngine(HostedEngine):
    """FLUX.1 Kontext [pro]/[max] and FLUX.2 [pro]/[max]/[flex] on Replicate."""

    name = "replicate"
    flux2_max_inputs = FLUX2_MAX_INPUTS

    def __init__(
        self,
        upstream: UpstreamClient,
        base_url: str,
        model: str,
        limiters: Sequence[SlotLimiter],
        deadline_s: float,
        safety_tolerance: int = 2,
        queue_timeout: float = 30.0,
        sizing: str = "aspect_ratio",
        generate_id: str | None = None,
    ) -> None:
        super().__init__(upstream, base_url, limiters, deadline_s, safety_tolerance, queue_timeout)
        self.model = model
        self.sizing = sizing

    async def prepare(
        self, image: Image.Image, prompt: str, options: EditOptions
    ) -> dict[str, Any]:
        """The prediction body: {input: {prompt, input_image (data URI), ratio, format, ...}}
        for Kontext; for FLUX.2 every input in order in `input_images` (none for text to
        image), the ratio at 1 MP and any flex tuning."""
        if self.sizing == "width_height":
            return {"input": await self._flux2_input(image, prompt, options)}
        data: dict[str, Any] = {
            "prompt": prompt,
            "input_image": await input_data_uri(image, options),
            "aspect_ratio": options.aspect_ratio,
            "output_format": "jpg" if options.output_format == "jpeg" else "png",
            "safety_tolerance": self.safety_tolerance,
            "prompt_upsampling": False,
        }
        if options.seed is not None:
            data["seed"] = options.seed
        return {"input": data}

    async def _flux2_input(
        self, image: Image.Image, prompt: str, options: EditOptions
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"prompt": prompt}
        if options.has_input:
            data["input_images"] = [await input_data_uri(image, options)] + [
                await data_uri_of(reference) for reference in options.references
            ]
        data["aspect_ratio"] = options.aspect_ratio
        data["resolution"] = FLUX2_RESOLUTION
        data["output_format"] = "jpg" if options.output_format == "jpeg" else "png"
        data["safety_tolerance"] = max(1, self.safety_tolerance)  # FLUX.2 here takes 1..5
        if options.seed is not None:
            data["seed"] = options.seed
        data.update(options.params)  # flex: guidance, steps, prompt_upsampling (same names)
        return data

    async def run(self, body: dict[str, Any], options: EditOptions, deadline: Deadline) -> str:
        """Create with `Prefer: wait`; if still running after the wait, poll `urls.get`."""
        wait = int(min(REPLICATE_MAX_WAIT, max(1.0, deadline.remaining("submit") - 5.0)))
        response = await self.upstream.send(
            "POST",
            f"{self.base_url}/v1/models/{self.model}/predictions",
            deadline,
            "submit",
            json=body,
            headers={"Prefer": f"wait={wait}"},
            call_timeout=wait + 15.0,
        )
        body.clear()  # the upload is the provider's now: hold no copy while polling
        if 400 <= response.status_code < 500:
            raise self.rejected(response)
        prediction = json_object(response, self.name)
        urls = prediction.get("urls")
        get_url = urls.get("get") if isinstance(urls, dict) else None
        if not isinstance(get_url, str):
            raise malformed(self.name)
        release_source(options)  # accepted: nothing needs the input again
        log.info(
            "upstream task accepted",
            engine=self.name,
            model=options.model,
            task=str(prediction.get("id"))[:64],
        )
        cancel = ("POST", urls.get("cancel")) if isinstance(urls, dict) else None
        return await self.poll(get_url, deadline, replicate_step, first=prediction, cancel=cancel)


PROVIDER = HostedProvider(
    name="replicate",
    engine=ReplicateEngine,
    auth_header="Authorization",
    auth_scheme="Bearer",
    key_setting="replicate_api_token",
    base_url_setting="replicate_base_url",
    delivery_hosts_setting="replicate_delivery_hosts",
    max_in_flight_setting="replicate_max_in_flight",
)
