"""Writing a downloaded output: whole or not at all, next to where it goes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

import httpx


def target_path(path: Path, image_url: str) -> Path:
    """`path` itself, or the URL's file name inside `path` when it is a directory."""
    path = path.expanduser()
    if path.is_dir():
        name = Path(unquote(urlsplit(image_url).path)).name or "output"
        return path / name
    return path


class CountingFile:
    """A binary file that counts what was written."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.written = 0

    def write(self, chunk: bytes) -> None:
        """Write one chunk."""
        self._handle.write(chunk)
        self.written += len(chunk)


@contextlib.contextmanager
def atomic_writer(target: Path) -> Iterator[CountingFile]:
    """A temporary file beside `target`, renamed over it only when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            out = CountingFile(handle)
            yield out
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass
class Download:
    """An open, successful response of the output's URL."""

    response: httpx.Response

    @property
    def total(self) -> int | None:
        """Content-Length, when the server sent one."""
        value = self.response.headers.get("content-length", "")
        return int(value) if value.isdigit() else None

    def writer(self, target: Path) -> contextlib.AbstractContextManager[CountingFile]:
        """Where the bytes go (see atomic_writer)."""
        return atomic_writer(target)
