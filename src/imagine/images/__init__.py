"""Decode, validate, orient, size and encode images (CPU-bound: call off the event loop).

`decode` → `cover` → `encode` is the pixel path; `sniff_acceptable`, `fast_upload_jpeg` and
`validate_result` let hosted engines pass bytes through without producing pixels at all.
"""

from imagine.images.decoding import ALLOWED_FORMATS, decode, decode_concurrency, to_rgb
from imagine.images.encoding import encode
from imagine.images.passthrough import (
    ImageInfo,
    ResultInfo,
    fast_upload_jpeg,
    sniff_acceptable,
    validate_result,
)
from imagine.images.resizing import cover

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}

__all__ = [
    "ALLOWED_FORMATS",
    "CONTENT_TYPES",
    "ImageInfo",
    "ResultInfo",
    "cover",
    "decode",
    "decode_concurrency",
    "encode",
    "fast_upload_jpeg",
    "sniff_acceptable",
    "to_rgb",
    "validate_result",
]
