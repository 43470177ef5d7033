"""Synthetic sample photos (drawn, not downloaded) for demos, tests and the gallery."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from imagine.engines.offline.imaging import to_u8


def _sky_and_ground(width: int, height: int, horizon: int) -> Image.Image:
    ys = np.arange(height, dtype=np.float32)[:, None, None]
    t = np.clip(ys / max(horizon, 1), 0, 1)
    sky = np.concatenate([110 + 90 * t, 160 + 70 * t, 225 + 20 * t], axis=-1)
    g = np.clip((ys - horizon) / max(height - horizon, 1), 0, 1)
    grass = np.concatenate([70 + 30 * g, 120 + 25 * g, 60 + 10 * g], axis=-1)
    arr = np.where(ys < horizon, sky, grass) * np.ones((1, width, 1), np.float32)
    return Image.fromarray(to_u8(arr))


def car_scene(
    width: int = 1024, height: int = 768, colour: tuple[int, int, int] = (200, 32, 36)
) -> tuple[Image.Image, Image.Image]:
    """A side view of a car on a road under a blue sky, and the car's mask ("L", 255 = car)."""
    horizon = round(0.42 * height)
    img = _sky_and_ground(width, height, horizon)
    draw = ImageDraw.Draw(img)
    # distant hills break the horizon line like a real scene
    hills = [(x, horizon - 25 - 18 * np.sin(x / width * 9.0)) for x in range(0, width + 1, 16)]
    draw.polygon([(0, horizon), *hills, (width, horizon)], fill=(92, 128, 98))
    # road in perspective with dashed centre line
    road_top = horizon + round(0.04 * height)
    draw.polygon(
        [(0.42 * width, road_top), (0.58 * width, road_top), (width, height), (0, height)],
        fill=(88, 88, 94),
    )
    draw.rectangle([0, round(0.70 * height), width, height], fill=(84, 84, 90))
    for i in range(8):
        y0 = road_top + (height - road_top) * (i / 8) ** 1.5
        y1 = road_top + (height - road_top) * ((i + 0.5) / 8) ** 1.5
        draw.rectangle([0.5 * width - 2 - i, y0, 0.5 * width + 2 + i, y1], fill=(235, 232, 220))

    mask = Image.new("L", (width, height), 0)
    mdraw = ImageDraw.Draw(mask)
    cx, base = width / 2, 0.74 * height
    cw, ch = 0.56 * width, 0.30 * height
    left, right = cx - cw / 2, cx + cw / 2
    body_top, body_bottom = base - 0.62 * ch, base - 0.12 * ch
    cabin = [
        (left + 0.22 * cw, body_top),
        (left + 0.34 * cw, base - ch),
        (left + 0.70 * cw, base - ch),
        (left + 0.82 * cw, body_top),
    ]
    wheel_r = 0.16 * ch
    wheels = [(left + 0.2 * cw, base - wheel_r), (left + 0.8 * cw, base - wheel_r)]
    # soft shadow under the car grounds it on the road
    shadow = Image.new("L", (width, height), 0)
    ImageDraw.Draw(shadow).ellipse([left - 10, base - 14, right + 10, base + 16], fill=150)
    shadow = shadow.filter(ImageFilter.GaussianBlur(8))
    img = Image.composite(Image.new("RGB", img.size, (25, 25, 28)), img, shadow)
    draw = ImageDraw.Draw(img)

    # body with vertical shading: lit from above, darker toward the sills
    body = Image.new("RGB", (width, height))
    ys = np.arange(height, dtype=np.float32)[:, None, None]
    shade = np.clip(1.25 - (ys - (base - ch)) / ch * 0.75, 0.45, 1.3)
    body_arr = np.asarray(colour, np.float32)[None, None, :] * shade * np.ones((1, width, 1))
    body = Image.fromarray(to_u8(body_arr))
    body_mask = Image.new("L", (width, height), 0)
    bdraw = ImageDraw.Draw(body_mask)
    bdraw.rounded_rectangle([left, body_top, right, body_bottom], radius=round(0.12 * ch), fill=255)
    bdraw.polygon(cabin, fill=255)
    img.paste(body, (0, 0), body_mask)
    mdraw.bitmap((0, 0), body_mask, fill=255)
    draw = ImageDraw.Draw(img)
    # windows, highlight, lights, wheels
    win = [
        (left + 0.27 * cw, body_top),
        (left + 0.36 * cw, base - 0.92 * ch),
        (left + 0.68 * cw, base - 0.92 * ch),
        (left + 0.77 * cw, body_top),
    ]
    draw.polygon(win, fill=(150, 175, 195))
    draw.line(
        [(left + 0.52 * cw, body_top), (left + 0.52 * cw, base - 0.92 * ch)],
        fill=tuple(round(c * 0.6) for c in colour),
        width=max(3, round(0.012 * cw)),
    )
    draw.line(
        [(left + 0.05 * cw, body_top + 0.1 * ch), (right - 0.05 * cw, body_top + 0.1 * ch)],
        fill=tuple(min(255, round(c * 1.25 + 60)) for c in colour),
        width=4,
    )
    draw.ellipse(
        [right - 0.05 * cw, body_top + 0.15 * ch, right - 0.01 * cw, body_top + 0.28 * ch],
        fill=(255, 240, 190),
    )
    draw.ellipse(
        [left + 0.01 * cw, body_top + 0.15 * ch, left + 0.04 * cw, body_top + 0.28 * ch],
        fill=(200, 30, 20),
    )
    for wx, wy in wheels:
        for r, fill in ((wheel_r, (22, 22, 24)), (0.55 * wheel_r, (170, 170, 175))):
            draw.ellipse([wx - r, wy - r, wx + r, wy + r], fill=fill)
        mdraw.ellipse([wx - wheel_r, wy - wheel_r, wx + wheel_r, wy + wheel_r], fill=255)

    # a little blur and grain so filters see photo-like texture, fixed seed: a fixed picture
    arr = np.asarray(img.filter(ImageFilter.GaussianBlur(0.8)), np.float32)
    grain = np.random.default_rng(7).normal(0.0, 3.0, arr.shape[:2])[..., None]
    return Image.fromarray(to_u8(arr + grain)), mask


def blob_scene(width: int = 512, height: int = 384) -> tuple[Image.Image, Image.Image]:
    """A saturated orange disc on a textured grey-green backdrop, and the disc's mask."""
    rng = np.random.default_rng(11)
    noise = rng.normal(0, 1, (height // 8 + 1, width // 8 + 1)).astype(np.float32)
    tex = np.kron(noise, np.ones((8, 8), np.float32))[:height, :width]
    base = np.stack([100 + 12 * tex, 120 + 12 * tex, 105 + 12 * tex], axis=-1)
    img = Image.fromarray(to_u8(base))
    mask = Image.new("L", (width, height), 0)
    box = [width * 0.32, height * 0.25, width * 0.68, height * 0.75]
    ImageDraw.Draw(img).ellipse(box, fill=(235, 140, 30))
    ImageDraw.Draw(mask).ellipse(box, fill=255)
    return img.filter(ImageFilter.GaussianBlur(0.6)), mask
