"""Text-to-image without a generative model: an honest, labelled placeholder."""

from __future__ import annotations

import hashlib
import textwrap

from PIL import Image, ImageDraw, ImageFont

PLACEHOLDER_NOTICE = (
    "the offline engine cannot generate images from text: the output is a labelled"
    " placeholder showing the prompt, not a generated picture"
)


def _colour(prompt: str) -> tuple[int, int, int]:
    """A soft background tone that follows the prompt (same prompt, same tone)."""
    digest = hashlib.sha256(prompt.encode()).digest()
    return (176 + digest[0] % 64, 176 + digest[1] % 64, 176 + digest[2] % 64)


def render_placeholder(prompt: str, width: int, height: int) -> Image.Image:
    """A `width`×`height` card reading "no image generated" and the prompt, wrapped."""
    image = Image.new("RGB", (width, height), _colour(prompt))
    draw = ImageDraw.Draw(image)
    title_size = max(12, width // 22)
    body_size = max(10, width // 34)
    title = ImageFont.load_default(size=title_size)
    body = ImageFont.load_default(size=body_size)
    margin = width // 12
    y = height // 6
    draw.text((margin, y), "OFFLINE PLACEHOLDER (no image generated)", fill="black", font=title)
    y += title_size * 2
    chars = max(10, int((width - 2 * margin) / (body_size * 0.55)))
    for line in textwrap.wrap(prompt, chars)[: max(1, (height - y) // (body_size + 6) - 1)]:
        draw.text((margin, y), line, fill=(40, 40, 40), font=body)
        y += body_size + 6
    return image
