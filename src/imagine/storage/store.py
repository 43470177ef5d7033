"""Object stores behind one small interface; the local directory is the default."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import anyio.to_thread

_NAME = re.compile(r"^[A-Za-z0-9_-]{16,100}\.(png|jpg|webp|gif)$")
# What a write cut short (SIGKILL between create and rename) leaves in a local directory.
PARTIAL_PREFIX = ".tmp-"
_PARTIAL = re.compile(r"^\.tmp-[A-Za-z0-9_]{1,64}$")
LISTING_BATCH = 500


@dataclass(frozen=True)
class StoredObject:
    """One object in a store: its name and when it was last written."""

    name: str
    modified: datetime


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

    def listing(self) -> AsyncIterator[list[StoredObject]]:
        """Every object in the store, in batches (for the orphan sweep)."""
        ...


class LocalDirStore:
    """Files in one directory, written atomically (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, name: str, *, partial: bool = False) -> Path:
        if not (valid_object_name(name) or (partial and _PARTIAL.fullmatch(name))):
            raise ValueError("invalid object name")
        return self._root / name

    async def put(self, name: str, data: bytes) -> None:
        """Store `data` under `name`."""
        path = self._path(name)

        def _write() -> None:
            self._root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._root, prefix=PARTIAL_PREFIX)
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
        """Remove `name` (or a partial write's temporary file) if present."""
        path = self._path(name, partial=True)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def listing(self) -> AsyncIterator[list[StoredObject]]:
        """The directory's files (partial writes included), in batches."""

        def _scan() -> list[StoredObject]:
            try:
                entries = list(os.scandir(self._root))
            except FileNotFoundError:
                return []
            found = []
            for entry in entries:
                try:
                    if entry.is_file(follow_symlinks=False):
                        modified = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
                        found.append(StoredObject(entry.name, modified))
                except FileNotFoundError:
                    continue  # removed meanwhile
            return found

        found = await anyio.to_thread.run_sync(_scan)
        for start in range(0, len(found), LISTING_BATCH):
            yield found[start : start + LISTING_BATCH]


class MemoryStore:
    """A dict-backed store for tests."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.modified: dict[str, datetime] = {}

    async def put(self, name: str, data: bytes) -> None:
        """Store `data` under `name`."""
        self.objects[name] = data
        self.modified[name] = datetime.now(UTC)

    async def get(self, name: str) -> bytes | None:
        """The bytes under `name`, or None."""
        return self.objects.get(name)

    async def delete(self, name: str) -> None:
        """Remove `name` if present."""
        self.objects.pop(name, None)
        self.modified.pop(name, None)

    async def listing(self) -> AsyncIterator[list[StoredObject]]:
        """Every object, in one batch."""
        yield [StoredObject(name, self.modified[name]) for name in list(self.objects)]
