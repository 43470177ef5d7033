"""Value rules of /imagine, one message per problem, each naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from imagine.catalog import ASPECT_SIZES, AUTO_RATIO, DEFAULT_MODEL, PARAMS, Model
from imagine.errors import ValidationFailed
from imagine.fetch.data_uri import is_data_uri
from imagine.fetch.images import url_refusal
from imagine.fetch.policy import AddressPolicy
from imagine.tasks.schemas import ImagineRequest

MAX_URL_CHARS = 2048
MAX_SECRET_CHARS = 256
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class EditRequest:
    """A validated /imagine request."""

    prompt: str
    model: Model
    image_url: str  # the first input ("" for text-to-image)
    aspect_ratio: str
    output_format: Literal["png", "jpeg"]
    seed: int | None
    webhook_url: str | None
    webhook_secret: str | None = field(repr=False)
    references: tuple[str, ...] = ()  # more inputs after image_url, in order
    params: Mapping[str, float | int | bool] = field(default_factory=dict)  # catalog params

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every input URL in order (empty: text-to-image)."""
        return ((self.image_url,) if self.image_url else ()) + self.references


def _http_url_problem(field: str, url: str) -> str | None:
    if len(url) > MAX_URL_CHARS:
        return f"{field} must be at most {MAX_URL_CHARS} characters"
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return f"{field} is not a valid URL"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"{field} must be an http(s) URL"
    return None


def _webhook_url_problem(url: str) -> str | None:
    # urlsplit silently drops tabs and line breaks, and httpx percent-encodes spaces, so such
    # a URL would pass here, then print as several lines in `imagine webhooks list`.
    if any(c.isspace() or not c.isprintable() for c in url):
        return "webhook_url must not contain whitespace or control characters"
    return _http_url_problem("webhook_url", url)


def _webhook_secret_problems(secret: str) -> list[str]:
    """The secret travels back verbatim as an HTTP header value: printable ASCII, no
    surrounding whitespace (HTTP strips it, so the receiver would never see the same value
    and every delivery would fail its check)."""
    problems: list[str] = []
    if len(secret) > MAX_SECRET_CHARS:
        problems.append(f"webhook_secret must be at most {MAX_SECRET_CHARS} characters")
    if any(c in secret for c in "\r\n\x00"):
        problems.append("webhook_secret must not contain line breaks")
    elif any(c < " " or c == "\x7f" for c in secret):
        problems.append("webhook_secret must not contain control characters")
    elif not all(" " <= c <= "~" for c in secret):
        problems.append("webhook_secret must be printable ASCII")
    elif secret != secret.strip():
        problems.append("webhook_secret must not start or end with whitespace")
    return problems


def _text_problems(req: ImagineRequest) -> list[str]:
    """Strings the database and HTTP headers cannot carry: NUL and lone surrogates."""
    problems: list[str] = []
    for name, value in req.model_dump().items():
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            problems.append(f"{name} must not contain NUL characters")
        elif any("\ud800" <= c <= "\udfff" for c in value):
            problems.append(f"{name} must be valid Unicode text (no lone surrogates)")
    return problems


def _image_url_problem(
    name: str,
    url: str,
    max_data_uri: int,
    policy: AddressPolicy | None,
    own_uploads: str | None,
) -> str | None:
    if not url:
        return f"{name} must not contain empty URLs"
    if is_data_uri(url):
        if not url[5:].lower().startswith("image/") or ";base64," not in url[:200]:
            return f"{name} data URI must look like data:image/<type>;base64,<data>"
        if len(url) > max_data_uri:
            return f"{name} data URI is too large"
        return None
    if (problem := _http_url_problem(name, url)) is not None:
        if problem.endswith("http(s) URL"):
            return f"{name} must be an http(s) URL or a data:image URI"
        return problem
    if own_uploads is not None and url.startswith(own_uploads):
        return None
    if policy is not None:
        return url_refusal(url, policy, name)
    return None


def validate_imagine(
    req: ImagineRequest,
    catalog: Mapping[str, Model],
    *,
    max_prompt_chars: int,
    max_data_uri: int,
    policy: AddressPolicy | None = None,
    own_uploads: str | None = None,
) -> EditRequest:
    """Check every rule; raise ValidationFailed listing all problems at once.

    With `policy`, URLs whose host is a literal private address are refused here, before
    admission (names are checked when they are resolved, at connect time). An image_url
    under `own_uploads` (this server's upload prefix) is read from the store, never fetched,
    so the address policy does not apply to it.
    """
    problems = _text_problems(req)
    if problems:
        raise ValidationFailed(*problems)
    prompt = (req.prompt or "").strip()
    if not prompt:
        problems.append("prompt is required")
    elif len(prompt) > max_prompt_chars:
        problems.append(f"prompt must be at most {max_prompt_chars} characters")

    model = catalog.get(req.model if req.model is not None else DEFAULT_MODEL)
    if model is None:
        problems.append(f"model must be one of: {', '.join(sorted(catalog))}")

    image_url = (req.image_url or "").strip()
    extra = [u.strip() for u in req.image_urls or []]
    if not image_url and extra:
        image_url, extra = extra[0], extra[1:]
    inputs = [image_url] if image_url else []
    inputs += extra
    if not inputs:
        if model is None or model.requires_image:
            problems.append("image_url is required")
    elif model is not None and len(inputs) > model.max_images:
        problems.append(
            f"model {model.id} takes at most {model.max_images} input image"
            f"{'' if model.max_images == 1 else 's'} (image_url and image_urls);"
            f" got {len(inputs)}"
        )
    for index, url in enumerate(inputs):
        name = "image_url" if index == 0 and req.image_url else "image_urls"
        problem = _image_url_problem(name, url, max_data_uri, policy, own_uploads)
        if problem is not None and problem not in problems:
            problems.append(problem)

    aspect_ratio = req.aspect_ratio if req.aspect_ratio is not None else "1:1"
    if aspect_ratio not in ASPECT_SIZES and aspect_ratio != AUTO_RATIO:
        problems.append(f"aspect_ratio must be one of: {' '.join(ASPECT_SIZES)} auto")
    elif model is not None and aspect_ratio != AUTO_RATIO and aspect_ratio not in model.ratios:
        problems.append(f"aspect_ratio for {model.id} must be one of: {' '.join(model.ratios)}")
    if aspect_ratio == AUTO_RATIO and not inputs:
        aspect_ratio = "1:1"  # nothing to take the shape from

    output_format = (req.output_format or "png").lower()
    if output_format == "jpg":
        output_format = "jpeg"
    if output_format not in ("png", "jpeg"):
        problems.append("output_format must be png or jpeg")

    if req.seed is not None and not 0 <= req.seed <= MAX_SEED:
        problems.append(f"seed must be between 0 and {MAX_SEED}")

    webhook_url = req.webhook_url.strip() if req.webhook_url else None
    if webhook_url:
        problem = _webhook_url_problem(webhook_url)
        if problem is None and policy is not None:
            problem = url_refusal(webhook_url, policy, "webhook_url")
        if problem is not None:
            problems.append(problem)
    if req.webhook_secret is not None:
        problems.extend(_webhook_secret_problems(req.webhook_secret))

    params: dict[str, float | int | bool] = {}
    for name, param in PARAMS.items():
        value = getattr(req, name)
        if value is None:
            continue
        if model is not None and name not in model.params:
            problems.append(f"{name} is not taken by model {model.id}")
        elif (problem := param.problem(value)) is not None:
            problems.append(problem)
        else:
            params[name] = value

    if problems or model is None:
        raise ValidationFailed(*problems)
    return EditRequest(
        prompt=prompt,
        model=model,
        image_url=image_url,
        aspect_ratio=aspect_ratio,
        output_format=output_format,  # type: ignore[arg-type]
        seed=req.seed,
        webhook_url=webhook_url or None,
        webhook_secret=req.webhook_secret,
        references=tuple(extra),
        params=params,
    )
