"""The API documents itself offline (issue 15, item 7).

The OpenAPI document validates (openapi-spec-validator) and states the API-key scheme, the
enums, the required fields, examples and the webhook payload; /docs and /redoc load only
same-origin assets that this process serves; and Swagger UI / ReDoc really render the
operations in headless Chromium with every off-loopback host unreachable.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate

from imagine.app import create_app
from imagine.catalog import ASPECT_SIZES, default_catalog
from imagine.http.docs import FAVICON, REDOC_JS, SWAGGER_CSS, SWAGGER_JS
from imagine.settings import Settings
from tests.conftest import Api

OPERATIONS = [
    "/api/v1/imagine",
    "/api/v1/fetch",
    "/api/v1/fetch-many",
    "/api/v1/account",
    "/api/v1/models",
    "/api/v1/uploads",
    "/api/v1/uploads/{upload_id}",
]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_TIMEOUT = 90


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The pages need no database: one run, on SQLite (not once per database)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'imagine.db'}"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The app's own OpenAPI document (no database touched)."""
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("docs")))
    return app.openapi()


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.removeprefix("#/components/schemas/")
    resolved: dict[str, Any] = document["components"]["schemas"][name]
    return resolved


def _enum(prop: dict[str, Any]) -> list[Any]:
    for option in prop.get("anyOf", [prop]):
        if "enum" in option:
            return list(option["enum"])
    raise AssertionError(f"no enum in {prop}")


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    """openapi-spec-validator accepts the whole document (paths, webhooks, components)."""
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_api_route_asks_for_the_key_in_authorization(document: dict[str, Any]) -> None:
    """One apiKey scheme on the Authorization header, applied to every /api/ and /v1/
    operation (the auth gate's prefixes) and to nothing else."""
    schemes = document["components"]["securitySchemes"]
    assert list(schemes.values()) == [
        {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": schemes["ApiKey"]["description"],
        }
    ]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith(("/api/", "/v1/")):
                assert operation.get("security") == [{"ApiKey": []}], (method, path)
                names = [p["name"].lower() for p in operation.get("parameters", [])]
                assert "authorization" not in names, (method, path)
            else:
                assert "security" not in operation, (method, path)
    assert sorted(p for p in document["paths"] if p.startswith("/api/")) == sorted(OPERATIONS)
    assert sorted(p for p in document["paths"] if p.startswith("/v1/")) == [
        "/v1/images/edits",
        "/v1/models",
        "/v1/models/{model_id}",
    ]


def test_imagine_request_states_enums_and_required_fields(document: dict[str, Any]) -> None:
    """model lists the catalog, aspect_ratio the contract's table plus auto, output_format
    png/jpeg; prompt and image_url are required non-empty strings."""
    body = document["paths"]["/api/v1/imagine"]["post"]["requestBody"]
    request = _resolve(document, body["content"]["application/json"]["schema"])
    props = request["properties"]
    assert _enum(props["model"]) == sorted(default_catalog())
    assert _enum(props["aspect_ratio"]) == [*ASPECT_SIZES, "auto"]
    assert _enum(props["aspect_ratio"]) == [
        "1:1",
        "16:9",
        "9:16",
        "4:3",
        "3:4",
        "3:2",
        "2:3",
        "auto",
    ]
    assert _enum(props["output_format"]) == ["png", "jpeg"]
    assert sorted(request["required"]) == ["image_url", "prompt"]
    for name in ("prompt", "image_url"):
        assert props[name]["type"] == "string"
        assert props[name]["minLength"] == 1
    assert request["examples"]


def test_responses_have_examples_and_429_documents_retry_after(
    document: dict[str, Any],
) -> None:
    """Success and error answers carry examples; every documented 429 has Retry-After."""
    imagine = document["paths"]["/api/v1/imagine"]["post"]["responses"]
    ok = imagine["200"]["content"]["application/json"]["example"]
    assert ok["status"] == "finished" and ok["engine"]
    bad = imagine["400"]["content"]["application/json"]["example"]
    assert bad["errors"][0]["msg"] == "prompt is required"
    fetched = document["paths"]["/api/v1/fetch"]["post"]["responses"]["200"]
    task = fetched["content"]["application/json"]["example"]
    assert "error" in task and task["error"] is None  # nulls survive FastAPI's encoder
    limited = [
        (path, op["responses"]["429"])
        for path, item in document["paths"].items()
        for op in item.values()
        if "429" in op["responses"]
    ]
    assert any(path == "/api/v1/imagine" for path, _ in limited)
    for path, response in limited:
        header = response["headers"]["Retry-After"]
        assert header["required"] is True, path
        assert header["schema"]["type"] == "integer", path


def test_the_webhook_payload_is_the_task_object(document: dict[str, Any]) -> None:
    """OpenAPI 3.1 `webhooks`: a POST whose body is TaskObject, with the signing headers."""
    hook = document["webhooks"]["task-ended"]["post"]
    media = hook["requestBody"]["content"]["application/json"]
    assert media["schema"] == {"$ref": "#/components/schemas/TaskObject"}
    assert {"finished", "failed"} <= set(media["examples"])
    assert media["examples"]["failed"]["value"]["image_url"] is None
    headers = {p["name"]: p for p in hook["parameters"] if p["in"] == "header"}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert headers[name]["required"] is True
    assert headers["x-webhook-secret"]["required"] is False
    task = document["components"]["schemas"]["TaskObject"]
    assert {"task_id", "status", "image_url", "error"} <= set(task["properties"])


def _asset_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""", html) + re.findall(
        r"""url:\s*['"]([^'"]+)['"]""", html
    )


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_doc_pages_reference_only_same_origin_assets(api: Api, page: str) -> None:
    """The HTML names no other origin (no CDN, no Google Fonts); each asset it names is
    served here, as JavaScript, CSS or an image, not as an API answer."""
    r = await api.client.get(page)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    # The browser itself refuses any other origin (ReDoc's bundle would fetch a logo).
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data:" in csp
    assert "cdn" not in r.text.lower() and "googleapis" not in r.text
    assert "https://" not in r.text and "http://" not in r.text
    urls = _asset_urls(r.text)
    assert urls, r.text
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
    expected = {"/docs": {SWAGGER_JS, SWAGGER_CSS, FAVICON}, "/redoc": {REDOC_JS, FAVICON}}[page]
    assert expected <= set(urls)
    assert "/openapi.json" in urls


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [
        (SWAGGER_JS, "javascript"),
        (SWAGGER_CSS, "text/css"),
        (REDOC_JS, "javascript"),
        (FAVICON, "image/png"),
    ],
)
async def test_assets_are_served_with_their_types(api: Api, asset: str, content_type: str) -> None:
    """The bundled Swagger UI / ReDoc files answer 200 with a browser-usable type, and no key
    is needed for them (they are outside /api/)."""
    r = await api.client.get(asset)
    assert r.status_code == 200
    assert content_type in r.headers["content-type"]
    assert len(r.content) > 1000


def _chromium_or_skip() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not installed, and CI is set: .ci/run must install it")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    return CHROMIUM


def _page_requests(net_log: Path) -> set[str]:
    """URLs the page asked for (requests with a web origin as initiator), from Chromium's
    --log-net-log; the browser's own background calls ("not an origin") are left out."""
    events = json.loads(net_log.read_text(errors="replace"))["events"]
    urls = set()
    for event in events:
        params = event.get("params") or {}
        initiator = str(params.get("initiator", ""))
        if "url" in params and initiator.startswith(("http://", "https://")):
            urls.add(str(params["url"]))
    return urls


@pytest.mark.parametrize(("page", "marker"), [("/docs", "opblock"), ("/redoc", "redoc-wrap")])
async def test_docs_render_in_headless_chromium_without_network(
    api: Api, tmp_path: Path, page: str, marker: str
) -> None:
    """Chromium, with every host but loopback unresolvable and a dead proxy for the rest,
    renders the page: the DOM it dumps holds every /api/ operation; its net log shows the
    page loaded its script and /openapi.json from this server and asked no other host."""
    chromium = _chromium_or_skip()
    net_log = tmp_path / "net-log.json"
    args = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        # Network off: names other than loopback fail to resolve; addresses go to a dead proxy.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
        "--proxy-server=http://127.0.0.1:9",
        f"--log-net-log={net_log}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        f"{api.url}{page}",
    ]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    try:
        async with asyncio.timeout(CHROMIUM_TIMEOUT):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    dom = out.decode(errors="replace")
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    assert marker in dom, dom[-2000:]
    for path in OPERATIONS:
        assert path in dom, (path, dom[-2000:])
    requested = _page_requests(net_log)
    assert f"{api.url}/openapi.json" in requested, requested
    assert f"{api.url}{REDOC_JS if page == '/redoc' else SWAGGER_JS}" in requested, requested
    assert {urlsplit(u).hostname for u in requested} == {"127.0.0.1"}, requested


def test_redoc_and_swagger_pages_are_not_in_the_document(document: dict[str, Any]) -> None:
    """The doc pages and assets are not API operations."""
    assert not any(p in document["paths"] for p in ("/docs", "/redoc"))
    assert not any(p.startswith("/docs-assets") for p in document["paths"])
    assert json.dumps(document).count("cdn.jsdelivr") == 0
