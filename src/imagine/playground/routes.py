"""GET /playground: a page to try an edit in the browser, served with no build step and no CDN.

The page is plain HTML, CSS and JavaScript shipped in this package. It calls only the public
API of the server that served it (the key goes in `Authorization`, like any client's), so
its Content-Security-Policy allows nothing but this origin (plus blob:/data: for local image
previews, and the public URL's origin for outputs when that differs).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from urllib.parse import urlsplit

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse

from imagine.errors import NotFound

PAGE_PATH = "/playground"

# (served name, media type) of each file in this package the page uses.
_ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


@dataclass(frozen=True)
class _File:
    body: bytes
    media_type: str


def content_security_policy(public_url: str) -> str:
    """Only this origin; images also from blob:/data: (previews) and the public URL's origin
    (where output links point, e.g. behind a proxy)."""
    images = ["'self'", "blob:", "data:"]
    parts = urlsplit(public_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        images.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _read(name: str) -> bytes:
    return (files("imagine.playground") / name).read_bytes()


def playground_router(public_url: str) -> APIRouter:
    """Routes of the page and its two assets, read once; `/` redirects to the page."""
    csp = content_security_policy(public_url)
    page = _File(_read("index.html"), "text/html; charset=utf-8")
    assets = {name: _File(_read(name), media) for name, media in _ASSETS.items()}
    # The files change only with a new release: revalidate (cheap), never serve a stale one.
    common = {"cache-control": "no-cache", "x-content-type-options": "nosniff"}
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse(PAGE_PATH, status_code=307)

    @router.get(PAGE_PATH)
    async def playground() -> Response:
        headers = {
            **common,
            "content-security-policy": csp,
            "referrer-policy": "no-referrer",
            "x-frame-options": "DENY",
        }
        return Response(page.body, media_type=page.media_type, headers=headers)

    @router.get(PAGE_PATH + "/{name}")
    async def asset(name: str) -> Response:
        found = assets.get(name)
        if found is None:
            raise NotFound("Not found")
        return Response(found.body, media_type=found.media_type, headers=common)

    return router
