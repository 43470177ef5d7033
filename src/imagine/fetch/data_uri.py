"""`data:image/...;base64,` URIs, decoded without any network."""

from __future__ import annotations

import base64
import binascii
import re

from imagine.errors import ImageRejected

_DATA_URI = re.compile(r"^data:(image/[a-z0-9.+-]+)?((?:;[a-z0-9-]+=[^;,]*)*);base64,", re.I)


def is_data_uri(url: str) -> bool:
    """Whether `url` is a data: URI."""
    return url[:5].lower() == "data:"


def decode_data_uri(url: str, *, max_bytes: int) -> bytes:
    """The bytes of a base64 image data URI, refusing anything else or anything too big."""
    match = _DATA_URI.match(url)
    if match is None:
        raise ImageRejected("image_url data URI must look like data:image/<type>;base64,<data>")
    payload = url[match.end() :]
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise ImageRejected(f"image_url data URI is larger than {max_bytes} bytes")
    try:
        data = base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageRejected("image_url data URI is not valid base64") from exc
    if len(data) > max_bytes:
        raise ImageRejected(f"image_url data URI is larger than {max_bytes} bytes")
    return data
