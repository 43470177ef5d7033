"""Colour words → RGB: the CSS named colours, a few everyday extras, shades and finishes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from PIL import ImageColor

RGB = tuple[int, int, int]
Finish = Literal["plain", "matte", "glossy", "metallic"]

# Everyday colour words people use that CSS lacks (CSS ones come from Pillow's table).
_EXTRA: dict[str, RGB] = {
    "bronze": (205, 127, 50),
    "copper": (184, 115, 51),
    "burgundy": (128, 0, 32),
    "cream": (255, 253, 208),
    "charcoal": (54, 69, 79),
    "mustard": (225, 173, 1),
    "emerald": (80, 200, 120),
    "ruby": (224, 17, 95),
    "rose": (255, 0, 127),
    "mint": (152, 255, 152),
    "lilac": (200, 162, 200),
    "scarlet": (255, 36, 0),
    "cherry": (222, 49, 99),
    "champagne": (247, 231, 206),
    "sand": (194, 178, 128),
    "rust": (183, 65, 14),
    "jade": (0, 168, 107),
    "amber": (255, 191, 0),
    "cobalt": (0, 71, 171),
    "lavenderblue": (204, 204, 255),
    "navyblue": (0, 0, 128),
    "babyblue": (137, 207, 240),
    "racinggreen": (0, 66, 37),
    "britishracinggreen": (0, 66, 37),
}

_FINISHES: dict[str, Finish] = {
    "matte": "matte",
    "matt": "matte",
    "flat": "matte",
    "satin": "matte",
    "frosted": "matte",
    "glossy": "glossy",
    "gloss": "glossy",
    "shiny": "glossy",
    "polished": "glossy",
    "lacquered": "glossy",
    "metallic": "metallic",
    "metal": "metallic",
    "chrome": "metallic",
    "pearlescent": "metallic",
}

# Shade words scale lightness when "dark"+name is not itself a CSS name.
_SHADES: dict[str, float] = {
    "dark": 0.6,
    "deep": 0.7,
    "light": 1.4,
    "pale": 1.55,
    "bright": 1.15,
    "pastel": 1.5,
}


@dataclass(frozen=True)
class Colour:
    """A named colour with an optional paint finish."""

    name: str
    rgb: RGB
    finish: Finish = "plain"


def _table() -> dict[str, RGB]:
    table = {name: ImageColor.getrgb(hex_)[:3] for name, hex_ in ImageColor.colormap.items()}
    table.update(_EXTRA)
    del table["snow"]  # "add snow" is weather; nobody paints a car "snow"
    return {k: (int(v[0]), int(v[1]), int(v[2])) for k, v in table.items()}


COLOURS: Mapping[str, RGB] = MappingProxyType(_table())
FINISHES: Mapping[str, Finish] = MappingProxyType(_FINISHES)


def join_compound_names(text: str) -> str:
    """Join "dark slate blue" → "darkslateblue" where the joined word is a colour name."""
    words = text.split(" ")
    out: list[str] = []
    i = 0
    while i < len(words):
        for span in (3, 2):  # longest first: "british racing green" before "racing green"
            joined = "".join(words[i : i + span])
            if i + span <= len(words) and joined in COLOURS:
                out.append(joined)
                i += span
                break
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


_NAMES = "|".join(sorted(COLOURS, key=len, reverse=True))
_FINISH_RE = "|".join(sorted(_FINISHES, key=len, reverse=True))
_SHADE_RE = "|".join(_SHADES)
# finish? shade? name  (e.g. "matte black", "metallic dark blue", "pale pink")
COLOUR_RE = re.compile(
    rf"\b(?:(?P<finish>{_FINISH_RE})[ -])?(?:(?P<shade>{_SHADE_RE})[ -])?"
    rf"(?P<name>{_NAMES})\b(?:[ -](?P<finish2>{_FINISH_RE})\b)?"
)


def _shade(rgb: RGB, factor: float) -> RGB:
    if factor <= 1.0:
        return (round(rgb[0] * factor), round(rgb[1] * factor), round(rgb[2] * factor))
    mix = min(1.0, factor - 1.0)  # lighter: blend toward white
    r, g, b = (round(c + (255 - c) * mix) for c in rgb)
    return (r, g, b)


def colour_from_match(match: re.Match[str]) -> Colour:
    """Build a Colour from a COLOUR_RE match."""
    name = match.group("name")
    shade = match.group("shade")
    finish_word = match.group("finish") or match.group("finish2")
    rgb = COLOURS[name]
    label = name
    if shade:
        joined = shade + name
        if joined in COLOURS:
            rgb, label = COLOURS[joined], joined
        else:
            rgb, label = _shade(rgb, _SHADES[shade]), f"{shade} {name}"
    finish: Finish = _FINISHES[finish_word] if finish_word else "plain"
    return Colour(name=label, rgb=rgb, finish=finish)


def find_colour(text: str) -> tuple[Colour, tuple[int, int]] | None:
    """Return the first colour phrase in lower-case text and its span."""
    match = COLOUR_RE.search(text)
    if match is None:
        return None
    return colour_from_match(match), match.span()
