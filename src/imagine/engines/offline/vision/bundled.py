"""The default models: SSD-MobileNet-v2 (COCO) through OpenCV's dnn module, U²-NetP and
open_nsfw through onnxruntime. Each loads once, lazily, on the first call (which runs on a
worker thread, never on the event loop), and runs on the CPU at the model's own small input
size; masks are brought back to full size edge-aware by the caller (vision/masks.py)."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import cv2
import numpy as np

from imagine.engines.offline.imaging import F32, U8
from imagine.engines.offline.vision import weights
from imagine.engines.offline.vision.base import Detection, SafetyClassifier, Vision
from imagine.engines.offline.vision.labels import COCO_IDS

T = TypeVar("T")

DETECTOR_SIDE = 300  # SSD-MobileNet-v2's trained input
MIN_DETECTION_SCORE = 0.4
_MEAN_RGB = np.asarray([0.485, 0.456, 0.406], np.float32)  # U²-Net's ImageNet normalisation
_STD_RGB = np.asarray([0.229, 0.224, 0.225], np.float32)
_NSFW_MEAN_BGR = np.asarray([104.0, 117.0, 123.0], np.float32)


class Lazy(Generic[T]):
    """A value built on first use, once, whichever thread asks first."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        """The value, building it now if no one has yet."""
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
        return self._value


def _onnx_session(path: Path) -> Any:
    import onnxruntime as ort  # the `vision` extra; imported only when a model is first used

    options = ort.SessionOptions()
    # requests already run in parallel on the worker pool: one thread per inference keeps
    # a burst from oversubscribing the cores
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class SsdDetector:
    """COCO objects with SSD-MobileNet-v2 (a TF frozen graph) through cv2.dnn."""

    def __init__(self, graph: Path, config: Path, min_score: float = MIN_DETECTION_SCORE) -> None:
        self._net = Lazy(lambda: cv2.dnn.readNetFromTensorflow(str(graph), str(config)))
        self._lock = threading.Lock()  # a cv2.dnn.Net keeps its input: one forward at a time
        self._min_score = min_score

    def detect(self, rgb: U8) -> list[Detection]:
        """Objects scoring at least `min_score`, best first, boxes in pixels."""
        height, width = rgb.shape[:2]
        small = cv2.resize(rgb, (DETECTOR_SIDE, DETECTOR_SIDE), interpolation=cv2.INTER_AREA)
        blob = cv2.dnn.blobFromImage(small, size=(DETECTOR_SIDE, DETECTOR_SIDE), swapRB=False)
        net = self._net.get()
        with self._lock:
            net.setInput(blob)
            rows = np.asarray(net.forward()).reshape(-1, 7)
        found: list[Detection] = []
        for row in rows:
            label = COCO_IDS.get(int(row[1]))
            if label is None or float(row[2]) < self._min_score:
                continue
            x0, x1 = (np.clip(row[[3, 5]], 0.0, 1.0) * width).round().astype(int)
            y0, y1 = (np.clip(row[[4, 6]], 0.0, 1.0) * height).round().astype(int)
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                found.append(Detection(label, float(row[2]), (int(x0), int(y0), int(x1), int(y1))))
        return sorted(found, key=lambda d: -d.score)


class U2NetSegmenter:
    """Salient-object masks with U²-Net (or U²-NetP): 320×320 in, a saliency map out."""

    def __init__(self, model: Path) -> None:
        self._session = Lazy(lambda: _onnx_session(model))

    def mask(self, rgb: U8) -> F32:
        """Soft mask of the salient object at the image's size (bilinear; refine it after)."""
        session = self._session.get()
        meta = session.get_inputs()[0]
        side = meta.shape[2] if isinstance(meta.shape[2], int) else 320
        height, width = rgb.shape[:2]
        small = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
        small /= max(float(small.max()), 1e-6)
        x = ((small - _MEAN_RGB) / _STD_RGB).transpose(2, 0, 1)[None].astype(np.float32)
        pred = np.asarray(session.run(None, {meta.name: x})[0], np.float32)[0, 0]
        lo, hi = float(pred.min()), float(pred.max())
        pred = (pred - lo) / (hi - lo) if hi - lo > 1e-6 else np.zeros_like(pred)
        out: F32 = np.asarray(
            cv2.resize(pred, (width, height), interpolation=cv2.INTER_LINEAR), np.float32
        )
        return out


class OpenNsfwClassifier:
    """Yahoo's open_nsfw (ResNet-50 thin) as ONNX: 224×224 BGR, mean-subtracted, NHWC."""

    def __init__(self, model: Path) -> None:
        self._session = Lazy(lambda: _onnx_session(model))

    def score(self, rgb: U8) -> float:
        """Probability of the NSFW class."""
        session = self._session.get()
        resized = cv2.resize(rgb[..., :3], (256, 256), interpolation=cv2.INTER_LINEAR)
        crop = resized[16:240, 16:240, ::-1].astype(np.float32) - _NSFW_MEAN_BGR
        name = session.get_inputs()[0].name
        out = np.asarray(session.run(None, {name: np.ascontiguousarray(crop[None])})[0])
        return float(out[0, 1])


def onnxruntime_installed() -> bool:
    """True when onnxruntime (part of the `vision` extra) can be imported."""
    return importlib.util.find_spec("onnxruntime") is not None


def load_vision(models_dir: Path | None) -> Vision | None:
    """The detector and segmenter of the `vision` extra (or the operator's files), or None
    when they are not installed; nothing is read from disk until first use."""
    if not onnxruntime_installed():
        return None
    segmenter = weights.locate(weights.SEGMENTER, models_dir)
    graph = weights.locate(weights.DETECTOR, models_dir)
    config = weights.locate(weights.DETECTOR_CONFIG, models_dir)
    if segmenter is None or graph is None or config is None:
        return None
    return Vision(
        detector=SsdDetector(graph[0], config[0]),
        segmenter=U2NetSegmenter(segmenter[0]),
        names=[f"detector: {graph[1]}", f"segmenter: {segmenter[1]}"],
    )


def load_safety(models_dir: Path | None) -> tuple[SafetyClassifier, str] | None:
    """The NSFW classifier and where it comes from, or None when it is not installed."""
    if not onnxruntime_installed():
        return None
    found = weights.locate(weights.SAFETY, models_dir)
    return None if found is None else (OpenNsfwClassifier(found[0]), f"safety: {found[1]}")
