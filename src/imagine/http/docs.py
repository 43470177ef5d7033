"""Swagger UI (/docs) and ReDoc (/redoc), served with no internet.

FastAPI's own pages load their JavaScript and CSS from a CDN (and ReDoc its fonts from
Google), so on a machine without internet they stay blank. Here the assets come from the
`fastapi-offline` wheel (Swagger UI 5 and ReDoc builds) and are served by this process under
ASSETS_PATH; the pages reference nothing off this origin.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
SWAGGER_JS = f"{ASSETS_PATH}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{ASSETS_PATH}/swagger-ui.css"
REDOC_JS = f"{ASSETS_PATH}/redoc.standalone.js"
FAVICON = f"{ASSETS_PATH}/favicon.png"

# The pages may load nothing from another origin. This also stops the one remote request
# the ReDoc bundle makes by itself (its "by Redocly" logo from cdn.redoc.ly). Inline script
# and style: FastAPI's page bootstrap, Swagger UI's and ReDoc's styling; blob: workers:
# ReDoc's search.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)


def assets_dir() -> Path:
    """The bundled Swagger UI / ReDoc files (inside the installed fastapi-offline package)."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the assets and both documentation pages (build the app with docs_url=None and
    redoc_url=None so FastAPI's CDN-backed pages are not registered)."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_dir()), name="docs-assets")

    # Both pages are fixed for the app's life: render them once.
    swagger_page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{app.title} - API documentation",
        swagger_js_url=SWAGGER_JS,
        swagger_css_url=SWAGGER_CSS,
        swagger_favicon_url=FAVICON,
        oauth2_redirect_url=None,
        # No badge asking validator.swagger.io about the document.
        swagger_ui_parameters={"validatorUrl": None},
    )
    redoc_page = get_redoc_html(
        openapi_url=openapi_url,
        title=f"{app.title} - API reference",
        redoc_js_url=REDOC_JS,
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )

    # A fresh response per request (a Response's header list is mutable), same bytes.
    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger_page.body, headers={"content-security-policy": CSP})

    @app.get(redoc_url, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(redoc_page.body, headers={"content-security-policy": CSP})
