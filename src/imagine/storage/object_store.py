"""Outputs in any object store obstore speaks: s3://, gs://, az://, file://, memory://.

Credentials and endpoints come from the provider's usual environment variables (e.g.
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT for S3-compatible stores).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import obstore
from obstore.store import from_url

from imagine.storage.store import LISTING_BATCH, StoredObject

_ALLOW_HTTP_ENV = ("AWS_ALLOW_HTTP", "GOOGLE_ALLOW_HTTP", "AZURE_ALLOW_HTTP", "ALLOW_HTTP")
_REMOTE = ("s3", "s3a", "gs", "az", "abfs", "abfss", "azure", "http", "https")


class ObjectStoreBackend:
    """A Store on top of obstore; every remote call carries a timeout."""

    def __init__(self, url: str, *, timeout_seconds: float = 30.0) -> None:
        scheme = urlsplit(url).scheme.lower()
        options: dict[str, Any] = {}
        if scheme in _REMOTE:
            client: dict[str, Any] = {
                "timeout": f"{int(timeout_seconds)}s",
                "connect_timeout": f"{max(1, int(timeout_seconds // 3))}s",
            }
            # Explicit client options replace the ones obstore reads from the environment,
            # so carry the one that matters for S3-compatible servers without TLS.
            if any(os.environ.get(k, "").lower() == "true" for k in _ALLOW_HTTP_ENV):
                client["allow_http"] = True
            options["client_options"] = client
        elif scheme == "file":
            options["mkdir"] = True
        self._store = from_url(url, **options)

    async def put(self, name: str, data: bytes) -> None:
        """Store `data` under `name`."""
        await obstore.put_async(self._store, name, data)

    async def get(self, name: str) -> bytes | None:
        """The bytes under `name`, or None."""
        try:
            result = await obstore.get_async(self._store, name)
        except FileNotFoundError:
            return None
        return bytes(await result.bytes_async())

    async def delete(self, name: str) -> None:
        """Remove `name` if present."""
        try:
            await obstore.delete_async(self._store, name)
        except FileNotFoundError:
            return

    async def listing(self) -> AsyncIterator[list[StoredObject]]:
        """Every object under the store's URL, in batches (paths relative to it)."""
        async for batch in obstore.list(self._store, chunk_size=LISTING_BATCH):
            yield [StoredObject(meta["path"], meta["last_modified"]) for meta in batch]
