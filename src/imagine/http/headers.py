"""Response headers of every API answer: never cached by a shared cache, never sniffed.

API JSON carries account data and capability URLs; `no-store` keeps it out of proxies and
browser caches, `nosniff` stops a browser from reading it as another type.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ApiHeadersMiddleware:
    """Adds `Cache-Control: no-store` and `X-Content-Type-Options: nosniff` under `prefixes`."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = ("/api/", "/v1/")) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, adding the headers to API responses."""
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["cache-control"] = "no-store"
                headers["x-content-type-options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, with_headers)
