"""The sky, by heuristic (no package ships a semantic segmentation model with weights):
smooth blue or bright-neutral pixels, connected to the top edge, outside every detected
object and outside what the salient-object model picks. It answers only when it is
confident; otherwise None, and the edit says so in a warning."""

from __future__ import annotations

import cv2
import numpy as np

from imagine.engines.offline.imaging import F32, U8
from imagine.engines.offline.vision.masks import SceneMasks, refine

WORK_SIDE = 256  # a coarse decision; the mask is refined edge-aware at full size
MIN_AREA = 0.05  # the sky found covers at least 5 % of the frame …
MIN_TOP = 0.4  # … and at least 40 % of the top row
_SMOOTH = 6.0  # gradient magnitude (8-bit levels per pixel at WORK_SIDE): sky is smooth


def find_sky(rgb: U8, scene: SceneMasks) -> F32 | None:
    """A soft sky mask (H×W, 0..1), or None when no sky can be vouched for."""
    height, width = rgb.shape[:2]
    scale = WORK_SIDE / max(height, width)
    sw, sh = max(8, round(width * scale)), max(8, round(height * scale))
    small = np.asarray(cv2.resize(rgb[..., :3], (sw, sh), interpolation=cv2.INTER_AREA))
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV).astype(np.float32)
    hue, sat, val = hsv[..., 0], hsv[..., 1] / 255.0, hsv[..., 2] / 255.0
    blue = (hue >= 90) & (hue <= 135) & (sat > 0.2) & (val > 0.2)
    overcast = (sat < 0.12) & (val > 0.7)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grad = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)) / 8.0
    smooth = cv2.blur(grad, (5, 5)) < _SMOOTH
    candidate = (blue | overcast) & smooth
    # nothing the models call a thing: the salient object, and every detected object's box
    salient = cv2.resize(scene.salient(), (sw, sh), interpolation=cv2.INTER_AREA) > 0.3
    candidate &= ~salient
    for detection in scene.detections():
        x0, y0, x1, y1 = (round(v * scale) for v in detection.box)
        candidate[y0:y1, x0:x1] = False
    count, labels, _, _ = cv2.connectedComponentsWithStats(
        candidate.astype(np.uint8), connectivity=8
    )
    top = {int(label) for label in np.unique(labels[0]) if label != 0}
    sky = np.isin(labels, list(top)) if top and count > 1 else np.zeros_like(candidate)
    if sky.mean() < MIN_AREA or sky[0].mean() < MIN_TOP:
        return None
    closed = cv2.morphologyEx(sky.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    coarse = np.asarray(
        cv2.resize(closed.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR),
        np.float32,
    )
    return refine(rgb, coarse)
