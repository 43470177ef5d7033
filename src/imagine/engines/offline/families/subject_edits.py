"""Subject-aware edits: recolour the subject, blur/remove/replace/desaturate the background."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import cv2
import numpy as np

from imagine.engines.offline.colours import Colour
from imagine.engines.offline.families import Handler
from imagine.engines.offline.families.filters import blur
from imagine.engines.offline.imaging import F32, U8, lerp, luminance, to_u8
from imagine.engines.offline.rules import Edit, SubjectOp
from imagine.engines.offline.subject import Context, PartNotFound


# Parts of a subject, not a subject: with one centre-seeded mask and no part detector the
# engine can only paint the whole subject, so "make the cat's fur orange" is refused with a
# warning naming "fur" rather than recolouring whatever the mask happened to catch.
def _words(text: str) -> list[str]:
    return text.split()


PARTS: frozenset[str] = frozenset(
    _words(
        "fur hair hairs coat mane eye eyes iris irises pupil pupils eyebrows eyelashes "
        "lashes lip lips mouth nose teeth tooth tongue skin face cheeks cheek ear ears "
        "beard moustache mustache nails nail tail paw paws whiskers feathers wings wing "
        "beak horns horn collar leash hat cap helmet shirt tshirt jacket dress skirt "
        "trousers pants jeans shoes shoe boots boot sleeves sleeve tie scarf glasses "
        "sunglasses gloves suit uniform wheel wheels tyre tyres tire tires rims rim window "
        "windows windshield windscreen roof hood bonnet door doors bumper bumpers "
        "headlights headlight lights mirror mirrors seat seats handlebars saddle spokes "
        "petals petal leaves leaf stem"
    )
)


def _part_named(target: str) -> str | None:
    """The first part word of a recolour target ("cat fur" → "fur"), if any."""
    return next((w for w in target.split() if w in PARTS), None)


# specular gain and diffuse-shading contrast per finish: matte keeps little of the highlights
_FINISH = {
    "plain": (0.7, 1.0),
    "matte": (0.2, 0.75),
    "glossy": (1.15, 1.0),
    "metallic": (0.95, 1.5),
}
_MIN_PAINT = 26.0  # even black paint reflects some light; 0 would erase the car's shape


def _paint_region(rgb: U8, subject: F32, side: int) -> F32:
    """The subject's dominant painted colour (its body), leaving windows, tyres and trim alone."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hue = hsv[..., 0].astype(np.float32)  # 0..180
    sat = hsv[..., 1].astype(np.float32) / 255.0
    val = hsv[..., 2].astype(np.float32) / 255.0
    colourful = np.clip((sat - 0.18) / 0.15, 0.0, 1.0) * np.clip((val - 0.12) / 0.1, 0.0, 1.0)
    inside = subject > 0.5
    weights = (colourful * subject)[inside]
    if weights.sum() < 0.2 * max(int(inside.sum()), 1):
        return subject  # a grey/white/black subject: no body colour to single out, paint it all
    hist = np.bincount((hue[inside] / 5).astype(np.int64).clip(0, 35), weights, minlength=36)
    # hue is circular: smooth the histogram with its neighbours before picking the peak
    smooth = hist + np.roll(hist, 1) * 0.5 + np.roll(hist, -1) * 0.5
    peak = (float(np.argmax(smooth)) + 0.5) * 5.0
    dist = np.abs(hue - peak)
    dist = np.minimum(dist, 180.0 - dist)
    near = np.clip((22.0 - dist) / 10.0, 0.0, 1.0)
    # the hue test already excludes the backdrop, so reach a little past the coarse mask edge
    # (otherwise a rim of the old paint survives along the outline)
    reach = max(3, round(0.012 * side)) | 1
    grown = cv2.dilate(subject, np.ones((reach, reach), np.uint8))
    region = (grown * near * colourful).astype(np.float32)
    region = cv2.morphologyEx(region, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return np.asarray(cv2.GaussianBlur(region, (0, 0), sigmaX=1.2), np.float32)


def _bbox(mask: F32, margin: int) -> tuple[slice, slice] | None:
    """Bounding box (with margin) of the mask's non-zero part."""
    rows = np.nonzero(mask.max(axis=1) > 0.01)[0]
    cols = np.nonzero(mask.max(axis=0) > 0.01)[0]
    if rows.size == 0:
        return None
    h, w = mask.shape
    return (
        slice(max(0, rows[0] - margin), min(h, rows[-1] + margin + 1)),
        slice(max(0, cols[0] - margin), min(w, cols[-1] + margin + 1)),
    )


def _recolour(rgb: U8, colour: Colour, target: str, ctx: Context) -> U8:
    subject = ctx.object_mask(target)
    # all the per-pixel work happens inside the subject's box: often a third of the frame
    box = _bbox(subject, margin=max(4, round(0.02 * max(rgb.shape[:2]))))
    if box is None:
        return rgb
    out = rgb.copy()
    side = max(rgb.shape[:2])
    out[box] = _recolour_crop(np.ascontiguousarray(rgb[box]), subject[box], colour, side)
    return out


def _recolour_crop(rgb: U8, subject: F32, colour: Colour, side: int) -> U8:
    region = _paint_region(rgb, np.ascontiguousarray(subject), side)
    if float(region.sum()) < 1.0:
        return rgb
    lum = luminance(rgb)
    weights = region.ravel()
    ref = float(np.average(lum.ravel(), weights=weights))
    core = lum[region > 0.5]
    high = float(np.percentile(core, 90)) if core.size else ref
    spec_gain, shade_k = _FINISH[colour.finish]
    # diffuse: the new paint follows the old light ratio; specular: what exceeds the 90th pct
    ratio = np.clip(lum / max(ref, 1.0), 0.0, 2.0)
    ratio = 1.0 + (ratio - 1.0) * shade_k
    paint = np.maximum(np.asarray(colour.rgb, np.float32), _MIN_PAINT)
    diffuse = paint[None, None, :] * ratio[..., None]
    specular = np.clip(lum - max(high, ref + 10.0), 0.0, None) * spec_gain
    if colour.finish == "matte":
        diffuse = np.minimum(diffuse, paint * 1.25)  # matte: no bright sheen on the body
    new = diffuse + specular[..., None]
    return to_u8(lerp(rgb, new, region))


def _background_blur(rgb: U8, amount: float, ctx: Context) -> U8:
    subject = ctx.subject_mask()
    # a crisper mask edge than the feathered one, so the subject keeps all its detail
    crisp = np.clip((subject - 0.25) / 0.5, 0.0, 1.0)
    sigma = 0.012 * max(rgb.shape[:2]) * float(np.clip(abs(amount), 0.4, 3.0))
    return to_u8(lerp(blur(rgb, sigma), rgb, crisp))


def _background_to(rgb: U8, colour: tuple[int, int, int], ctx: Context) -> U8:
    backdrop = np.broadcast_to(np.asarray(colour, np.float32), rgb.shape)
    return to_u8(lerp(backdrop, rgb, ctx.subject_mask()))


def _background_gray(rgb: U8, ctx: Context) -> U8:
    gray = np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    return to_u8(lerp(gray, rgb, ctx.subject_mask()))


def _object_blur(rgb: U8, edit: Edit, ctx: Context) -> U8:
    """Blur the named objects beyond recognition (faces, people, number plates' cars): the
    mask is grown a little so no sharp rim of the object survives."""
    ctx.objects(edit.target)  # a detector must vouch for the object: never a guessed subject
    if {"face", "faces", "head", "heads"} & set(edit.target.split()):
        ctx.notes.append("offline engine has no face detector: blurred the whole person")
    mask = np.asarray(ctx.object_mask(edit.target) > 0.3, np.uint8)
    side = max(rgb.shape[:2])
    grow = max(3, round(0.015 * side)) | 1
    grown = cv2.dilate(mask, np.ones((grow, grow), np.uint8)).astype(np.float32)
    soft = np.asarray(cv2.GaussianBlur(grown, (0, 0), grow / 3), np.float32)
    box = _bbox(soft, margin=0)
    if box is None:
        return rgb
    out = rgb.copy()
    sigma = 0.02 * side * float(np.clip(abs(edit.amount), 0.5, 3.0))
    crop = np.ascontiguousarray(rgb[box])
    out[box] = to_u8(lerp(crop, blur(crop, sigma), np.clip(soft[box] * 1.5, 0.0, 1.0)))
    return out


def _sky_colour(rgb: U8, edit: Edit, ctx: Context) -> U8:
    """Repaint the sky, keeping its gradient and clouds as light and dark of the new colour."""
    if edit.colour is None:
        return rgb
    sky = ctx.sky_mask()
    lum = luminance(rgb)
    ref = float(np.average(lum, weights=sky + 1e-6))
    ratio = np.clip(lum / max(ref, 1.0), 0.3, 2.0)
    paint = np.maximum(np.asarray(edit.colour.rgb, np.float32), _MIN_PAINT)
    return to_u8(lerp(rgb, paint[None, None, :] * ratio[..., None], sky))


def _transparent(rgb: U8, ctx: Context) -> U8:
    alpha = to_u8(ctx.subject_mask() * 255.0)
    return np.concatenate([rgb, alpha[..., None]], axis=2)


def _recolour_edit(rgb: U8, edit: Edit, ctx: Context) -> U8:
    part = _part_named(edit.target)
    if part is not None:
        raise PartNotFound(part)
    return rgb if edit.colour is None else _recolour(rgb, edit.colour, edit.target, ctx)


def _background_colour_edit(rgb: U8, edit: Edit, ctx: Context) -> U8:
    return rgb if edit.colour is None else _background_to(rgb, edit.colour.rgb, ctx)


HANDLERS: Mapping[SubjectOp, Handler] = MappingProxyType(
    {
        SubjectOp.RECOLOUR: _recolour_edit,
        SubjectOp.BACKGROUND_BLUR: lambda rgb, edit, ctx: _background_blur(rgb, edit.amount, ctx),
        SubjectOp.BACKGROUND_COLOUR: _background_colour_edit,
        SubjectOp.BACKGROUND_GRAY: lambda rgb, _, ctx: _background_gray(rgb, ctx),
        SubjectOp.REMOVE_BACKGROUND: lambda rgb, _, ctx: _transparent(rgb, ctx),
        SubjectOp.OBJECT_BLUR: _object_blur,
        SubjectOp.SKY_COLOUR: _sky_colour,
    }
)


def apply(rgb: U8, edit: Edit, ctx: Context) -> U8:
    """Apply one subject-aware edit; "remove_background" returns RGBA (H×W×4)."""
    return HANDLERS[SubjectOp(edit.op)](rgb, edit, ctx)
