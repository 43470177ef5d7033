"""The multipart form of `POST /v1/images/edits`, as OpenAI's SDKs send it, read into our
edit request (pure: no I/O). Unknown and unsupported-but-harmless fields are ignored."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from imagine.catalog import AUTO_RATIO, DEFAULT_MODEL, Model, nearest_ratio
from imagine.errors import ValidationFailed
from imagine.tasks.schemas import ImagineRequest

IMAGE_FIELDS = ("image", "image[]")
MAX_SIDE = 16384
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
# Accepted and ignored: they have no meaning for our engines.
IGNORED = (
    "quality",
    "background",
    "user",
    "input_fidelity",
    "moderation",
    "output_compression",
    "partial_images",
)


@dataclass(frozen=True)
class Upload:
    """One uploaded file."""

    name: str  # the form field: image, image[], mask…
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class EditForm:
    """What the form asks for, in our terms."""

    request: ImagineRequest
    response_format: Literal["url", "b64_json"]
    warnings: list[str]
    fingerprint_fields: dict[str, Any]


def default_model(catalog: Mapping[str, Model]) -> str:
    """The native route's default model, else the catalog's first edit model."""
    if DEFAULT_MODEL in catalog:
        return DEFAULT_MODEL
    return next((m.id for m in catalog.values() if m.kind == "edit"), DEFAULT_MODEL)


def aspect_ratio_for(size: str) -> str:
    """`auto` stays auto (the input's shape); `WxH` becomes the nearest contract ratio."""
    value = size.strip().lower()
    if value == AUTO_RATIO:
        return AUTO_RATIO
    match = _SIZE.match(value)
    if match is None or not all(0 < int(v) <= MAX_SIDE for v in match.groups()):
        raise ValidationFailed(
            "size must be auto or WIDTHxHEIGHT, e.g. 1024x1024, 1536x1024 or 1024x1536"
        )
    return nearest_ratio(int(match.group(1)), int(match.group(2)))


def read_form(
    fields: Mapping[str, Sequence[str]],
    uploads: Sequence[Upload],
    catalog: Mapping[str, Model],
) -> EditForm:
    """Check the form (400 listing every problem, OpenAI's field names) and translate it."""
    problems: list[str] = []
    warnings: list[str] = []

    def one(name: str) -> str | None:
        values = fields.get(name)
        if not values:
            return None
        if len(values) > 1:
            problems.append(f"{name} must be given once")
        return values[0]

    images = [u for u in uploads if u.name in IMAGE_FIELDS]
    stray_text = [n for n in IMAGE_FIELDS if fields.get(n)]
    if stray_text:
        # A text value where a file belongs (also beside real files): never silently dropped.
        problems.append("image must be an uploaded file (multipart/form-data)")
    elif not images:
        problems.append("image is required")
    if any(u.name == "mask" for u in uploads):
        warnings.append("mask is not supported and was ignored: the prompt says what to edit")

    prompt = one("prompt")
    model = one("model") or default_model(catalog)
    # A multi-reference model (FLUX.2) gets every image, in order (more than it takes: the
    # pipeline's 400 names the limit); a one-image model the first, as before.
    takes = catalog[model].max_images if model in catalog else 1
    if takes <= 1 and len(images) > 1:
        warnings.append(
            f"only the first image is used: {len(images) - 1} more ignored"
            " (the model takes one input image)"
        )
        images = images[:1]

    n = one("n")
    if n is not None:
        if not n.strip().isdigit():
            problems.append("n must be an integer")
        elif int(n) != 1:
            problems.append("n must be 1 (one image per request)")

    aspect_ratio = AUTO_RATIO
    size = one("size")
    if size is not None:
        try:
            aspect_ratio = aspect_ratio_for(size)
        except ValidationFailed as exc:
            problems.extend(exc.messages)

    response_format = (one("response_format") or "url").strip()
    if response_format not in ("url", "b64_json"):
        problems.append("response_format must be url or b64_json")

    output_format = (one("output_format") or "png").strip().lower()
    if output_format not in ("png", "jpeg", "jpg"):
        problems.append("output_format must be png or jpeg")

    stream = (one("stream") or "false").strip().lower()
    if stream not in ("false", "0"):
        problems.append("stream is not supported: leave it false")

    seed: int | None = None
    raw_seed = one("seed")
    if raw_seed is not None:
        if not raw_seed.strip().isdigit():
            problems.append("seed must be a non-negative integer")
        else:
            seed = int(raw_seed)

    if problems:
        raise ValidationFailed(*problems)
    first = images[0]
    request = ImagineRequest(
        prompt=prompt,
        model=model,
        image_url=data_uri(first),
        image_urls=[data_uri(u) for u in images[1:]] or None,
        aspect_ratio=aspect_ratio,
        output_format=output_format,
        seed=seed,
    )
    fingerprint_fields: dict[str, Any] = {
        name: list(values) for name, values in sorted(fields.items())
    }
    fingerprint_fields["files"] = [[u.name, hashlib.sha256(u.data).hexdigest()] for u in uploads]
    return EditForm(
        request=request,
        response_format=response_format,  # type: ignore[arg-type]
        warnings=warnings,
        fingerprint_fields=fingerprint_fields,
    )


def data_uri(upload: Upload) -> str:
    """The upload as a data URI: the pipeline takes it like any `image_url`, without a fetch
    (the bytes are sniffed, never trusted by their declared type)."""
    declared = upload.content_type.split(";")[0].strip().lower()
    mime = declared if re.fullmatch(r"image/[a-z0-9.+-]+", declared) else "image/png"
    return f"data:{mime};base64,{base64.b64encode(upload.data).decode('ascii')}"


def openai_messages(messages: Sequence[str]) -> list[str]:
    """The pipeline's messages in OpenAI's field names (our `image_url` is their `image`)."""
    return [
        m.replace("image_url data URI", "image").replace("image_url", "image") for m in messages
    ]
