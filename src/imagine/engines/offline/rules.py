"""The phrase patterns of each edit family and how their parameters are read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from imagine.engines.offline.colours import COLOUR_RE, FINISHES, Colour, colour_from_match
from imagine.engines.offline.vision.labels import coco_classes

Family = Literal["subject", "tone", "filters", "weather", "geometry", "text"]
Span = tuple[int, int]


class SubjectOp(StrEnum):
    """Subject-aware edits (families/subject_edits.py)."""

    RECOLOUR = "recolour"
    BACKGROUND_BLUR = "background_blur"
    BACKGROUND_COLOUR = "background_colour"
    BACKGROUND_GRAY = "background_gray"
    REMOVE_BACKGROUND = "remove_background"
    OBJECT_BLUR = "object_blur"
    SKY_COLOUR = "sky_colour"


class ToneOp(StrEnum):
    """Tone and colour edits (families/tone.py)."""

    GRAYSCALE = "grayscale"
    SEPIA = "sepia"
    VINTAGE = "vintage"
    NIGHT = "night"
    GOLDEN_HOUR = "golden_hour"
    INVERT = "invert"
    WARMER = "warmer"
    COOLER = "cooler"
    BRIGHTER = "brighter"
    DARKER = "darker"
    CONTRAST = "contrast"
    SATURATION = "saturation"
    TINT = "tint"


class FilterOp(StrEnum):
    """Pixel filters (families/filters.py)."""

    BLUR = "blur"
    SHARPEN = "sharpen"
    PIXELATE = "pixelate"
    CARTOON = "cartoon"
    SKETCH = "sketch"
    HDR = "hdr"


class WeatherOp(StrEnum):
    """Weather and light (families/weather.py)."""

    RAIN = "rain"
    REFLECTIONS = "reflections"
    SNOW = "snow"
    FOG = "fog"
    VIGNETTE = "vignette"


class GeometryOp(StrEnum):
    """Geometric edits (families/geometry.py)."""

    ROTATE = "rotate"
    FLIP = "flip"
    ZOOM = "zoom"
    CROP_TO = "crop_to"


class TextOp(StrEnum):
    """Captions (families/text.py)."""

    TEXT = "text"


Op = SubjectOp | ToneOp | FilterOp | WeatherOp | GeometryOp | TextOp

# Every operation the parser can produce, by family: each family's handler table must cover it.
OPS: Mapping[Family, type[Op]] = MappingProxyType(
    {
        "subject": SubjectOp,
        "tone": ToneOp,
        "filters": FilterOp,
        "weather": WeatherOp,
        "geometry": GeometryOp,
        "text": TextOp,
    }
)
_FAMILY_OF: Mapping[type[Op], Family] = MappingProxyType({v: k for k, v in OPS.items()})


@dataclass(frozen=True)
class Edit:
    """One recognised edit: its family, operation and parameters."""

    family: Family
    op: Op
    amount: float = 1.0  # strength multiplier; negative means the opposite direction
    angle: float = 0.0  # degrees clockwise (rotate)
    vertical: bool = False  # flip axis
    colour: Colour | None = None
    text: str = ""
    position: str = "centre"
    target: str = ""  # the thing named in "change the <thing> colour to …"


@dataclass(frozen=True)
class Rule:
    """A phrase pattern for one operation; signed rules read "more/less" direction words."""

    family: Family
    op: Op
    pattern: re.Pattern[str]
    signed: bool = False


def _words(text: str) -> list[str]:
    return text.split()


_COL = COLOUR_RE.pattern
_DET = r"(?:(?:the|a|an|my|this|that|his|her|their|its|our|your) )?"
_VERB = r"(?:change|make|paint|turn|recolou?r|colou?r|set|dye|repaint|spray|switch|convert|give)"
_THING = r"(?P<thing>[a-z][a-z0-9]*(?: [a-z][a-z0-9]*){0,4}?)"
# Parts of a scene, not a subject: without a segmentation model the engine cannot find them,
# so "make the road purple" is reported as not understood rather than painting the subject
# (the sky has its own heuristic: SKY_COLOUR).
_SCENERY = frozenset(
    _words(
        "sky skies road street ground floor wall walls grass water sea ocean lake river trees "
        "tree clouds cloud mountains mountain hills field building buildings"
    )
)
# An object a detector can find: one word, or a class of two words ("teddy bear"), or a
# person's face(s) ("the man's face")
_OBJECT = (
    r"(?P<thing>[a-z]+(?: (?:faces?|heads?|bear|glass|ball|light|plant|table|phone|hydrant"
    r"|sign|meter|bat|glove|racket|dog|drier))?)"
)
_THING_NOISE = frozenset(_words("a an the glossy matte metallic shiny finish paint coat look"))
_GROUND = r"(?:road|street|ground|floor|pavement|asphalt|tarmac|sidewalk|path|surface)"
_POS_RE = re.compile(
    r"\b(?:(?:at|on|in|along|across|near|to) )?(?:the )?(?:very )?"
    r"(?P<pos>(?:top|bottom|upper|lower)(?: (?:left|right))?|centre|center|middle|left|right)"
    r"(?: (?:edge|side|corner|part|third|half))?(?: of (?:the )?(?:image|photo|picture|frame))?\b"
)
_AMOUNTS: tuple[tuple[str, float], ...] = (
    (r"\b(?:extremely|super|massively|hugely|way more|much more|a lot more)\b", 2.2),
    (
        r"\b(?:very|much|a lot|lots|really|strongly|heavily|significantly|dramatically|"
        r"intensely|way|heavy|strong)\b",
        1.7,
    ),
    (
        r"\b(?:slightly|a bit|a little|a touch|a tad|subtly|somewhat|gently|lightly|mildly|"
        r"subtle|light|little|soft|bit)\b",
        0.5,
    ),
)
_PERCENT_RE = re.compile(r"\b(?:by )?(\d{1,4}(?:\.\d+)?) percent\b")
_DOWN_RE = re.compile(
    r"\b(?:less|lower|reduce[ds]?|decrease[ds]?|soften|softer|flatter|low|minus|down|"
    r"tone down|remove|no|without|weaker|drop)\b"
)
_ANGLE_RE = re.compile(r"\b(?:by )?(-?\d{1,6}(?:\.\d+)?) ?(?:degrees?|deg)?\b")
_CCW_RE = re.compile(r"\b(?:counter ?clockwise|anti ?clockwise|ccw|to the left|left)\b")
_CW_RE = re.compile(r"\b(?:clockwise|cw|to the right|right|sideways)\b")
_VERTICAL_RE = re.compile(r"\b(?:vertical(?:ly)?|upside down|top to bottom|up down|upside)\b")
_HORIZONTAL_RE = re.compile(r"\b(?:horizontal(?:ly)?|left to right|side to side)\b")
_QUOTE_TOKEN_RE = re.compile(r"\bqtext(\d+)\b")
_TEXT_WORDS = r"(?:text|words?|caption|title|label|headline|slogan|message|sign|banner)"


def _r(op: Op, pattern: str, signed: bool = False) -> Rule:
    return Rule(_FAMILY_OF[type(op)], op, re.compile(pattern), signed)


RULES: tuple[Rule, ...] = (
    # text first: quoted words must not be read as edits ("add the text 'blur'")
    _r(
        TextOp.TEXT,
        r"(?:\b(?:add|put|write|place|insert|overlay|print|stamp|type|caption)"
        rf"\b (?:a |an |the )?(?:{_TEXT_WORDS} )?(?:saying |that says |reading |of )?)?qtext\d+",
    ),
    _r(
        TextOp.TEXT,
        r"\b(?:add|put|write|place|insert|overlay|print|stamp)\b (?:a |an |the )?"
        rf"{_TEXT_WORDS} (?:saying |that says |reading )?(?P<bare>[a-z0-9]+(?: [a-z0-9]+){{0,4}}?)"
        r"(?= (?:at|on|in|across|along|to|near)\b| $)",
    ),
    # background before recolour, so "make the background blue" is not a subject recolour
    _r(
        SubjectOp.BACKGROUND_GRAY,
        rf"\b(?:{_VERB} )?{_DET}background (?:to |into |be )?"
        r"grayscale\b|\bgrayscale background\b|\bcolou?r (?:pop|splash)\b|\bselective colou?r\b",
    ),
    _r(
        SubjectOp.BACKGROUND_COLOUR,
        rf"\b(?:{_VERB}|replace|swap|fill) {_DET}background"
        rf"(?: colou?r)? (?:to |into |with |for |by |be )?(?:a |an )?(?:solid |plain )?{_COL}",
    ),
    _r(
        SubjectOp.BACKGROUND_COLOUR,
        rf"\b(?:remove|delete|erase|drop|strip) {_DET}background"
        rf" (?:and )?(?:replace it |make it |fill it |use )?(?:with |to |by )?(?:a |an )?{_COL}",
    ),
    _r(
        SubjectOp.BACKGROUND_COLOUR,
        rf"(?:\b(?:on|against|with|onto|over) )?{_DET}"
        rf"(?:solid |plain )?{_COL} background\b",
    ),
    _r(
        SubjectOp.REMOVE_BACKGROUND,
        rf"\b(?:remove|delete|erase|drop|strip|cut|get rid of|"
        rf"lose|take out|take away|clear) (?:out )?{_DET}background\b|\btransparent"
        r"(?: background)?\b|\bno background\b|\b(?:cut out|isolate|extract) (?:the )?"
        r"(?:main )?(?:subject|object|person|foreground)\b|\bbackground (?:removed|removal)\b",
    ),
    _r(
        SubjectOp.BACKGROUND_BLUR,
        rf"\bblur(?:red|ry)? (?:out )?{_DET}background\b"
        r"|\bbackground (?:blur(?:red|ry)?|out of focus|soft)\b|\bbokeh\b|\bportrait mode\b"
        r"|\bshallow (?:depth of field|focus)\b|\bdepth of field\b"
        rf"|\bblur (?:everything )?(?:except|but|behind|around) {_DET}\w+\b",
    ),
    # "blur the faces", "crop to the cat": only when the word names an object (else the
    # whole-image blur / zoom rules below read the clause)
    _r(
        SubjectOp.OBJECT_BLUR,
        rf"\b(?:blur(?:red)?|pixel+ate|anonymi[sz]e|obscure) (?:out )?(?:all )?{_DET}{_OBJECT}\b",
    ),
    _r(
        GeometryOp.CROP_TO,
        rf"\b(?:crop|frame|zoom(?: in)?|cut) (?:it |the (?:image|photo|picture) )?"
        rf"(?:to|around|on|onto) (?:just )?{_DET}{_OBJECT}\b",
    ),
    _r(
        SubjectOp.RECOLOUR,
        rf"\b{_VERB} {_DET}colou?r of {_DET}{_THING} (?:to |into |in |"
        rf"with )?(?:a |an )?{_COL}",
    ),
    _r(
        SubjectOp.RECOLOUR,
        rf"\b{_VERB} {_DET}{_THING}(?: colou?r| paint(?: ?job)?| body"
        rf"(?:work)?)? (?:to |into |in |with |be |look )?(?:a |an )?{_COL}"
        r"(?: colou?r| one| paint)?",
    ),
    _r(
        WeatherOp.REFLECTIONS,
        r"\b(?:wet |water |puddle |mirror )?reflect(?:ion|ions|ive)\b"
        rf"(?: (?:on|in|across|onto) {_DET}{_GROUND}s?)?|\bwet(?: look(?:ing)?)?"
        rf"(?: {_GROUND}s?)?\b|\bpuddles?\b|\bmake {_DET}{_GROUND} wet\b",
    ),
    _r(
        WeatherOp.RAIN,
        r"\brain(?:y|ing|drops?|fall|storm|s)?\b|\bdownpour\b|\bdrizzl\w*"
        r"|\bshowers?\b|\bstorm(?:y)?\b",
    ),
    _r(WeatherOp.SNOW, r"\bsnow(?:y|ing|fall|flakes?|storm|s)?\b|\bblizzard\b|\bwinter(?:y)?\b"),
    _r(WeatherOp.FOG, r"\bfog(?:gy)?\b|\bmist(?:y)?\b|\bhaz(?:e|y)\b|\bsmog(?:gy)?\b"),
    _r(WeatherOp.VIGNETTE, rf"\bvign?ett?e?\w*|\bdark(?:en)? {_DET}(?:edges|corners|borders)\b"),
    _r(
        ToneOp.GOLDEN_HOUR,
        r"\bgolden(?: hour)?\b|\bsunset\b|\bsunrise\b|\bmagic hour\b"
        r"|\bdusk\b|\bevening (?:light|sun)\b",
    ),
    _r(
        ToneOp.NIGHT,
        r"\b(?:day(?:time)? (?:in)?to )?night(?:time)?\b|\bmidnight\b"
        r"|\bmoonli(?:ght|t)\b|\bafter dark\b"
        r"|\bnocturnal\b",
    ),
    _r(ToneOp.SEPIA, r"\bsepia\b"),
    _r(
        ToneOp.VINTAGE,
        r"\bvintage\b|\bretro\b|\bold(?: |-)?(?:photo|film|school|fashioned"
        r"|timey)\b|\bfaded?\b|\bfilm (?:look|grain|photo)\b|\banalog(?:ue)?\b|\bnostalgic\b"
        r"|\b(?:19)?[5-7]0s\b|\bpolaroid\b|\baged\b",
    ),
    _r(
        ToneOp.GRAYSCALE,
        r"\bgrayscale\b|\bmonochrom\w*|\bno colou?rs?\b|\bcolou?rless\b"
        r"|\bgr[ae]y ?scale\b|\bnoir\b|\bbw\b",
    ),
    _r(ToneOp.INVERT, r"\binvert(?:ed)?\b|\bnegative\b|\binverse\b"),
    _r(ToneOp.WARMER, r"\bwarm(?:er|th|ing)?\b(?: (?:tones?|colou?rs?|tint))?", True),
    _r(ToneOp.COOLER, r"\b(?:cool|cold)(?:er|ing)?\b(?: (?:tones?|colou?rs?|tint))?", True),
    _r(ToneOp.CONTRAST, r"\bcontrast(?:y)?\b|\bpunch(?:y|ier)\b", True),
    _r(
        ToneOp.SATURATION,
        r"\b(?:de)?saturat\w*|\bvibran\w*|\bvivid\b|\bcolou?rful\b"
        r"|\bmuted\b|\bwashed out\b|\bpop\b",
        True,
    ),
    _r(
        ToneOp.BRIGHTER,
        r"\bbright(?:er|en|ness)?\b|\blight(?:er|en)\b|\bexposure\b"
        r"|\bmore light\b|\boverexpos\w*",
        True,
    ),
    _r(
        ToneOp.DARKER, r"\bdark(?:er|en)?\b|\bdim(?:mer)?\b|\bunderexpos\w*|\bmood(?:y|ier)\b", True
    ),
    _r(
        FilterOp.HDR,
        r"\bhdr\b|\bhigh dynamic range\b|\bdramatic\b|\btone ?mapp?\w*"
        r"|\bmore detail\w*|\bdetail\w* enhanc\w*|\benhance (?:the )?details?\b|\bclarity\b",
    ),
    _r(
        FilterOp.PIXELATE,
        r"\bpixel(?:ate|ated|ize|ise|ized|ised|s|ation|ated look)?\b"
        r"|\bmosaic\b|\b8 ?bit\b|\bcensor\w*",
    ),
    _r(
        FilterOp.CARTOON,
        r"\bcartoon\w*|\bcomic(?: book)?\b|\banime\b|\btoon\w*"
        r"|\bcel shad\w*|\bposteri[sz]\w*|\billustrat\w*|\bpainting\b|\bpainted\b|\bpop art\b",
    ),
    _r(
        FilterOp.SKETCH,
        r"\b(?:pencil )?sketch\w*|\bpencil(?: drawing)?\b|\bdrawing\b"
        r"|\bline art\b|\bhand ?drawn\b",
    ),
    _r(
        FilterOp.BLUR,
        r"\bblur(?:ry|red)?\b|\bout of focus\b|\bsoft focus\b|\bdefocus\w*"
        r"|\bsmooth(?:er)?\b|\bdreamy\b|\bsoften\b",
    ),
    _r(
        FilterOp.SHARPEN,
        r"\bsharp(?:en|er|ness)?\b|\bcrisp(?:er)?\b|\bdeblur\b"
        r"|\bunblur\b|\bin focus\b|\bfocus\b",
    ),
    _r(
        GeometryOp.ROTATE,
        r"\brotat\w*|\bturn (?:it |the (?:image|photo|picture) )?"
        r"(?:left|right|sideways|clockwise|counter ?clockwise|anti ?clockwise)\b"
        r"|\bupside down\b|\btilt\w*|\bspin\b",
    ),
    _r(GeometryOp.FLIP, r"\bflip\w*|\bmirror(?:ed)?\b|\bmirror image\b"),
    _r(
        GeometryOp.ZOOM,
        r"\bzoom(?:ed)?(?! out)(?: in)?\b|\bcrop (?:in|closer|tighter)\b"
        r"|\bcloser\b|\bmagnif\w*|\bclose ?up\b|\bpunch in\b|\benlarge\b",
    ),
)

# Words that carry no edit of their own; never reported as "not understood".
FILLER: frozenset[str] = frozenset(
    _words(
        "a an the and to it its it make makes image photo picture pic please add apply with some "
        "effect filter look looks looking like style into in on of this that my me can you could "
        "would give turn set put also just now then want i we let lets us really quite bit little "
        "touch tad so is be should all whole entire scene shot version kind sort one overall "
        "more much very lot lots slightly somewhat gently lightly mildly subtly subtle light soft "
        "strong strongly heavily heavy extremely super way significantly dramatically intensely "
        "percent by degrees degree deg tone tones colors colours color colour "
        "less lower reduce reduced decrease decreased down increase increased up boost higher "
        "raise add adding bring give gives do for at as from over onto convert change transform "
        "create render edit adjust show use switch subject everything was were been taken "
        "finish one"
    )
)
KNOWN_WORDS: frozenset[str] = frozenset(
    _words(
        "background subject foreground transparent reflections reflection rain snow fog mist "
        "vignette sepia vintage grayscale invert warmer cooler contrast saturation brighter darker "
        "blur sharpen pixelate cartoon sketch pencil rotate flip mirror zoom text caption title "
        "top bottom centre center middle left right upper lower clockwise counterclockwise "
        "vertical vertically horizontal horizontally golden hour night sunset"
    )
)


def _amount(text: str) -> tuple[float, list[Span]]:
    percent = _PERCENT_RE.search(text)
    if percent is not None:
        # 30 % is the default strength of most edits; cap keeps arithmetic sane
        return min(float(percent[1]) / 30.0, 5.0), [percent.span()]
    for pattern, value in _AMOUNTS:
        match = re.search(pattern, text)
        if match is not None:
            return value, [match.span()]
    return 1.0, []


def _angle(text: str) -> float:
    number = _ANGLE_RE.search(text)
    ccw = _CCW_RE.search(text) is not None
    if re.search(r"\bupside down\b", text):
        return 180.0
    if re.search(r"\btilt\w*", text) and number is None:
        return -8.0 if ccw else 8.0
    degrees = float(number[1]) % 360.0 if number is not None else 90.0
    return -degrees if ccw else degrees


def build(
    rule: Rule, match: re.Match[str], text: str, quotes: list[str], original: str
) -> tuple[Edit | None, list[Span]]:
    """Read the parameters of a matched rule from its clause; return the edit and used spans."""
    spans: list[Span] = [match.span()]
    groups = match.groupdict()
    colour = colour_from_match(match) if groups.get("name") else None
    amount, amount_spans = _amount(text)
    spans += amount_spans
    if rule.signed:
        down = _DOWN_RE.search(text)
        if down is not None or re.search(r"\bmuted|washed|desat", match[0]):
            amount = -abs(amount)
            spans += [down.span()] if down is not None else []
    edit = Edit(rule.family, rule.op, amount=amount, colour=colour)
    if rule.op is SubjectOp.RECOLOUR and colour is not None:
        return _recolour_edit(groups.get("thing") or "", colour, match[0], amount, spans)
    if rule.op in (SubjectOp.OBJECT_BLUR, GeometryOp.CROP_TO):
        thing = groups.get("thing") or ""
        if not coco_classes(thing):
            return None, []
        return Edit(rule.family, rule.op, amount=amount, target=thing), spans
    if rule.op is GeometryOp.ROTATE:
        for pattern in (_ANGLE_RE, _CCW_RE, _CW_RE):
            found = pattern.search(text)
            spans += [found.span()] if found is not None else []
        return Edit("geometry", GeometryOp.ROTATE, angle=_angle(text)), spans
    if rule.op is GeometryOp.FLIP:
        vertical = _VERTICAL_RE.search(text)
        horizontal = _HORIZONTAL_RE.search(text)
        spans += [m.span() for m in (vertical, horizontal) if m is not None]
        return Edit("geometry", GeometryOp.FLIP, vertical=vertical is not None), spans
    if rule.op is TextOp.TEXT:
        return _text_edit(match, text, quotes, original, spans)
    return edit, spans


def _recolour_edit(
    thing: str, colour: Colour, phrase: str, amount: float, spans: list[Span]
) -> tuple[Edit | None, list[Span]]:
    words = thing.split()
    if words and words[-1] in ("sky", "skies"):  # a heuristic finds it, where it is sure
        return Edit("subject", SubjectOp.SKY_COLOUR, amount=amount, colour=colour), spans
    if any(w in _SCENERY for w in words):
        return None, []
    if colour.finish == "plain":  # "a glossy finish in racing green": finish before the thing
        for word in phrase.split():
            if word in FINISHES:
                colour = Colour(colour.name, colour.rgb, FINISHES[word])
                break
    target = " ".join(w for w in words if w not in _THING_NOISE and w not in FINISHES)
    if target in {
        "",
        "it",
        "image",
        "photo",
        "picture",
        "everything",
        "scene",
        "whole image",
        "this",
        "this image",
        "this photo",
    }:
        return Edit("tone", ToneOp.TINT, amount=amount, colour=colour), spans
    return Edit("subject", SubjectOp.RECOLOUR, amount=amount, colour=colour, target=target), spans


def _text_edit(
    match: re.Match[str], text: str, quotes: list[str], original: str, spans: list[Span]
) -> tuple[Edit | None, list[Span]]:
    token = _QUOTE_TOKEN_RE.search(match[0])
    if token is not None:
        index = int(token[1])
        if index >= len(quotes):  # the user typed "qtext7" themselves
            return None, []
        words = quotes[index]
    else:
        bare = match["bare"]
        # recover the user's capitalisation from the original instruction
        found = re.search(
            r"\b" + r"\W+".join(map(re.escape, bare.split())) + r"\b", original, re.IGNORECASE
        )
        words = found[0] if found else bare.upper()
    position = _POS_RE.search(text, match.end()) or _POS_RE.search(text)
    pos = "centre"
    if position is not None:
        spans.append(position.span())
        pos = position["pos"].replace("center", "centre").replace("middle", "centre")
        pos = pos.replace("upper", "top").replace("lower", "bottom")
    colour_match = COLOUR_RE.search(text, match.end()) or COLOUR_RE.search(text)
    colour = None
    if colour_match is not None:
        spans.append(colour_match.span())
        colour = colour_from_match(colour_match)
    return Edit("text", TextOp.TEXT, text=words, position=pos, colour=colour), spans
