"""What `edit(image=…)` accepts: a URL or data URI (sent as is), or local bytes (uploaded)."""

from __future__ import annotations

import base64
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path

PASS_THROUGH = ("http://", "https://", "data:")

# Magic numbers of the formats an image API takes; the server has the last word.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"BM", 0, "image/bmp"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
)

ImageSource = str | bytes | bytearray | memoryview | os.PathLike[str]


@dataclass(frozen=True)
class LocalImage:
    """Image bytes from this machine, with a file name and a content type for the upload."""

    data: bytes
    filename: str
    content_type: str

    def data_uri(self) -> str:
        """The bytes as a `data:` URI (for a server without /uploads)."""
        return f"data:{self.content_type};base64,{base64.b64encode(self.data).decode('ascii')}"


def sniff_content_type(data: bytes, filename: str = "") -> str:
    """The image type from the first bytes, else from the file name's extension."""
    for magic, offset, ctype in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image/heic"
    guessed, _ = mimetypes.guess_type(filename)
    if guessed and guessed.startswith("image/"):
        return guessed
    return "application/octet-stream"


def is_url(source: object) -> bool:
    """Whether `source` is sent to the server as is (an http(s) URL or a data URI)."""
    return isinstance(source, str) and source.lower().startswith(PASS_THROUGH)


def local_path(source: str | os.PathLike[str]) -> Path:
    """A local file given by path; a clear error when there is none."""
    path = Path(source).expanduser()
    if not path.is_file():
        if isinstance(source, str) and "://" in source:
            raise ValueError(f"image: only http(s) URLs and data URIs are sent as is: {source!r}")
        raise FileNotFoundError(f"image: no such file: {path}")
    return path


def from_bytes(data: bytes | bytearray | memoryview, filename: str = "image") -> LocalImage:
    """Bytes given by the caller."""
    raw = bytes(data)
    if not raw:
        raise ValueError("image: empty bytes")
    ctype = sniff_content_type(raw, filename)
    if "." not in filename:
        filename += mimetypes.guess_extension(ctype) or ""
    return LocalImage(raw, filename, ctype)


def from_path(path: Path) -> LocalImage:
    """A file read from disk (blocking: async callers run it in a thread)."""
    return from_bytes(path.read_bytes(), path.name)
