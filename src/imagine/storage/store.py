"""Object stores behind one small interface; the local directory is the default."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Protocol

import anyio.to_thread

_NAME = re.compile(r"^[A-Za-z0-9_-]{16,100}\.(png|jpg|webp|gif)$")


def new_object_name(extension: str) -> str:
    """An unguessable name: 192 random bits, URL-safe."""
    return f"{secrets.token_urlsafe(24)}.{extension}"


def valid_object_name(name: str) -> bool:
    """Whether `name` could be one of ours (no paths, no dots beyond the extension)."""
    return _NAME.fullmatch(name) is not None


class Store(Protocol):
    """Keeps output bytes under a name."""

    async def put(self, name: str, data: bytes) -> None:
        """Store `data` under `name`."""
        ...

    async def get(self, name: str) -> bytes | None:
        """The bytes under `name`, or None."""
        ...

    async def delete(self, name: str) -> None:
        """Remove `name` if present."""
        ...


class LocalDirStore:
    """Files in one directory, written atomically (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, name: str) -> Path:
        if not valid_object_name(name):
            raise ValueError("invalid object name")
        return self._root / name

    async def put(self, name: str, data: bytes) -> None:
        """Store `data` under `name`."""
        path = self._path(name)

        def _write() -> None:
            self._root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._root, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

        await anyio.to_thread.run_sync(_write)

    async def get(self, name: str) -> bytes | None:
        """The bytes under `name`, or None."""
        path = self._path(name)

        def _read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        return await anyio.to_thread.run_sync(_read)

    async def delete(self, name: str) -> None:
        """Remove `name` if present."""
        path = self._path(name)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))


class MemoryStore:
    """A dict-backed store for tests."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, name: str, data: bytes) -> None:
        """Store `data` under `name`."""
        self.objects[name] = data

    async def get(self, name: str) -> bytes | None:
        """The bytes under `name`, or None."""
        return self.objects.get(name)

    async def delete(self, name: str) -> None:
        """Remove `name` if present."""
        self.objects.pop(name, None)
