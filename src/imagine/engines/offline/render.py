"""Instruction → edits for the offline engine (first version: keyword edits)."""

from __future__ import annotations

import re
from collections.abc import Callable

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

Edit = Callable[[Image.Image], Image.Image]


def _sepia(img: Image.Image) -> Image.Image:
    gray = ImageOps.grayscale(img)
    return ImageOps.colorize(gray, black="#2e1f0f", white="#f5e6c8", mid="#a2805a")


def _tint(r: float, b: float) -> Edit:
    def apply(img: Image.Image) -> Image.Image:
        red, green, blue = img.split()
        red = red.point(lambda v: min(255, round(v * r)))
        blue = blue.point(lambda v: min(255, round(v * b)))
        return Image.merge("RGB", (red, green, blue))

    return apply


# (pattern, name, edit). Order is the order edits are applied.
_EDITS: list[tuple[str, str, Edit]] = [
    (r"\b(black and white|black & white|b&w|grayscale|greyscale|monochrome)\b", "grayscale",
     lambda i: ImageOps.grayscale(i).convert("RGB")),
    (r"\bsepia\b", "sepia", _sepia),
    (r"\b(brighter|brighten|lighter|lighten)\b", "brighter",
     lambda i: ImageEnhance.Brightness(i).enhance(1.3)),
    (r"\b(darker|darken|dimmer)\b", "darker", lambda i: ImageEnhance.Brightness(i).enhance(0.7)),
    (r"\b(more contrast|increase (the )?contrast|higher contrast|boost (the )?contrast)\b",
     "more contrast", lambda i: ImageEnhance.Contrast(i).enhance(1.4)),
    (r"\b(less contrast|decrease (the )?contrast|lower contrast|reduce (the )?contrast)\b",
     "less contrast", lambda i: ImageEnhance.Contrast(i).enhance(0.7)),
    (r"\b(blur|blurry|blurred)\b", "blur", lambda i: i.filter(ImageFilter.GaussianBlur(4))),
    (r"\b(sharpen|sharper)\b", "sharpen", lambda i: i.filter(ImageFilter.UnsharpMask(2, 150, 2))),
    (r"\bflip\b.*\bvertical(ly)?\b|\bupside down\b", "flip vertical", ImageOps.flip),
    (r"\b(flip|mirror)\b", "flip", ImageOps.mirror),
    (r"\b(warmer|warm tones?)\b", "warmer", _tint(1.12, 0.88)),
    (r"\b(cooler|colder|cool tones?)\b", "cooler", _tint(0.88, 1.12)),
]

_FILLER = {
    "a", "an", "the", "and", "to", "it", "make", "image", "photo", "picture", "please", "more",
    "bit", "little", "slightly", "very", "much", "of", "this", "add", "apply", "with",
    "some", "effect", "filter", "turn", "into", "look", "in", "on", "is", "be",
}


def render(image: Image.Image, instruction: str, seed: int | None) -> tuple[Image.Image, list[str]]:
    """Apply every edit recognised in the instruction; warn about the words left over."""
    del seed  # every edit here is deterministic
    text = instruction.lower()
    out = image.convert("RGB")
    leftover = text
    applied: set[str] = set()
    for pattern, name, edit in _EDITS:
        match = re.search(pattern, leftover)
        if match is None:
            continue
        if name == "flip" and "flip vertical" in applied:
            continue
        out = edit(out)
        applied.add(name)
        leftover = leftover[: match.start()] + " " + leftover[match.end():]
    words = [w for w in re.findall(r"[a-z0-9']+", leftover) if w not in _FILLER]
    warnings: list[str] = []
    if words:
        warnings.append(
            "offline engine did not understand: " + " ".join(words)
            + (" (image passed through unchanged)" if not applied else "")
        )
    return out, warnings
