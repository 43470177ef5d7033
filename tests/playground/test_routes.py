"""The playground page and its assets are served by imagine itself, with a strict CSP; `/`
leads there; `IMAGINE_PLAYGROUND=false` removes both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imagine.playground.routes import content_security_policy
from tests.conftest import Api


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The page needs no database work: one run, on SQLite."""
    return f"sqlite+aiosqlite:///{tmp_path / 'imagine.db'}"


async def test_root_redirects_to_the_playground(api: Api) -> None:
    r = await api.client.get("/", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "/playground"


async def test_the_page_is_html_with_a_same_origin_only_policy(api: Api) -> None:
    """The page names only its own assets (no CDN, no font host) and its CSP lets the browser
    load nothing from another origin: scripts and styles from 'self' only, no inline code."""
    r = await api.client.get("/playground")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["img-src"].split() == ["'self'", "blob:", "data:", api.url]
    assert directives["frame-ancestors"] == "'none'"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in r.text and "https://" not in r.text.replace(
        "https://example.com/photo.jpg", ""
    )
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", r.text)
    assert {"/playground/app.js", "/playground/style.css"} <= set(urls)
    for url in urls:
        assert url.startswith(("/", "#", "data:")) and not url.startswith("//"), url
    assert "<script>" not in r.text and "style=" not in r.text  # nothing inline to allow


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [("app.js", "text/javascript"), ("style.css", "text/css")],
)
async def test_assets_are_served_with_their_types(api: Api, asset: str, content_type: str) -> None:
    r = await api.client.get(f"/playground/{asset}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(content_type)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in r.text and "https://" not in r.text
    assert "@import" not in r.text and "url(" not in r.text.replace("new URL(", "")


async def test_unknown_asset_is_a_404_in_the_error_shape(api: Api) -> None:
    for name in ("nope.js", "..%2Fsettings.py", "index.html"):
        r = await api.client.get(f"/playground/{name}")
        assert r.status_code == 404, name
        assert r.json() == {"errors": [{"msg": "Not found"}]}


async def test_the_page_calls_only_relative_api_paths(api: Api) -> None:
    """Every fetch in the script goes to a path of this server, with the key in
    Authorization (the auth gate's header), never in a URL."""
    js = (await api.client.get("/playground/app.js")).text
    paths = set(re.findall(r"""call\(\s*["'`]([^"'`]+)["'`]""", js))
    assert paths == {
        "/api/v1/account",
        "/api/v1/models",
        "/api/v1/uploads",
        "/api/v1/imagine",
        "/api/v1/fetch",
        "/api/v1/fetch-many",
    }
    assert "Authorization: state.key" in js
    assert "fetch(path" in js and js.count("fetch(") == 1


@pytest.mark.parametrize("settings_overrides", [{"playground": False}])
async def test_off_for_api_only_deployments(api: Api) -> None:
    for path in ("/", "/playground", "/playground/app.js"):
        r = await api.client.get(path, follow_redirects=False)
        assert r.status_code == 404, path
    assert (await api.client.get("/healthz")).status_code == 200


def test_csp_adds_the_public_origin_only_once_and_without_a_path() -> None:
    csp = content_security_policy("https://images.example.com/base/")
    assert "img-src 'self' blob: data: https://images.example.com;" in csp
    assert "img-src 'self' blob: data:;" in content_security_policy("not a url")
