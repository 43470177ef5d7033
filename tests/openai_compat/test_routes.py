"""The OpenAI-compatible routes, driven by the real `openai` SDK against a live server."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest
from PIL import Image

from imagine.catalog import ASPECT_SIZES, default_catalog
from imagine.services import Services
from tests.conftest import Api, PrepareServices
from tests.http.counting import CountingEngine
from tests.support import image_bytes

MODEL = "flux-kontext-max"


def _counting(services: Services) -> None:
    for route in services.routes.values():
        assert route.engine is not None
        route.engine = CountingEngine(route.engine)


@pytest.fixture
def prepare_services() -> PrepareServices:
    """Every test here counts the engines' calls."""
    return _counting


def _calls(api: Api) -> int:
    return sum(
        r.engine.calls for r in api.services.routes.values() if isinstance(r.engine, CountingEngine)
    )


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(image_bytes((640, 480)))
    return path


@pytest.fixture
async def key(api: Api) -> str:
    return await api.account(credits=100)


@pytest.fixture
async def client(api: Api, key: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        api_key=key, base_url=f"{api.url}/v1", max_retries=0, timeout=60
    ) as c:
        yield c


async def _balance(api: Api, key: str) -> int:
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    return int(r.json()["credits"])


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


async def test_edit_returns_a_url_of_the_requested_shape(
    api: Api, client: openai.AsyncOpenAI, key: str, photo: Path
) -> None:
    with photo.open("rb") as f:
        result = await client.images.edit(
            model=MODEL, image=f, prompt="make it sepia", size="1536x1024"
        )
    assert len(result.data) == 1
    url = result.data[0].url
    assert url is not None and url.startswith(api.url + "/files/")
    served = await api.client.get(url)
    assert served.status_code == 200
    assert _size(served.content) == ASPECT_SIZES["3:2"]
    assert served.content.startswith(b"\x89PNG")
    assert result.usage is not None and result.usage.total_tokens == 0
    extra = result.model_extra or {}
    assert result.usage.model_extra == {"credits_used": 8}
    task = await api.client.post(
        "/api/v1/fetch", json={"task_id": extra["task_id"]}, headers={"Authorization": key}
    )
    assert task.json()["status"] == "finished"
    assert await _balance(api, key) == 92


async def test_b64_json_and_auto_size_follow_the_input(
    client: openai.AsyncOpenAI, photo: Path
) -> None:
    with photo.open("rb") as f:
        result = await client.images.edit(
            image=f, prompt="make it sepia", response_format="b64_json", output_format="jpeg"
        )
    assert result.data[0].url is None
    b64 = result.data[0].b64_json
    assert b64 is not None
    data = base64.b64decode(b64)
    assert data.startswith(b"\xff\xd8")  # JPEG
    assert _size(data) == ASPECT_SIZES["4:3"]  # 640×480 in, size auto
    assert result.output_format == "jpeg"


async def test_several_images_use_the_first_with_a_warning(
    client: openai.AsyncOpenAI, photo: Path, tmp_path: Path
) -> None:
    tall = tmp_path / "tall.png"
    tall.write_bytes(image_bytes((300, 600), "PNG"))
    with photo.open("rb") as a, tall.open("rb") as b:
        result = await client.images.edit(image=[a, b], prompt="make it sepia")
    url = result.data[0].url
    assert url is not None
    warnings = (result.model_extra or {})["warnings"]
    assert any("only the first image is used: 1 more ignored" in w for w in warnings)


async def test_a_multi_reference_model_gets_every_image(
    client: openai.AsyncOpenAI, photo: Path, tmp_path: Path
) -> None:
    tall = tmp_path / "tall.png"
    tall.write_bytes(image_bytes((300, 600), "PNG"))
    with photo.open("rb") as a, tall.open("rb") as b:
        result = await client.images.edit(
            image=[a, b], prompt="make it sepia", model="flux-2-klein-4b"
        )
    warnings = (result.model_extra or {})["warnings"]
    # The form passes both on; the offline engine (this server's) edits the first only.
    assert not any("only the first image is used" in w for w in warnings)
    assert any("edits the first image only; 1 more were not used" in w for w in warnings)
    with photo.open("rb") as a, pytest.raises(openai.BadRequestError) as caught:
        await client.images.edit(
            image=[a, a, a, a, a], prompt="make it sepia", model="flux-2-klein-4b"
        )
    assert "takes at most 4 input images" in caught.value.message


async def test_wrong_key_is_authentication_error(api: Api, photo: Path) -> None:
    async with openai.AsyncOpenAI(
        api_key="japi_live_not-a-key", base_url=f"{api.url}/v1", max_retries=0
    ) as c:
        with pytest.raises(openai.AuthenticationError) as caught, photo.open("rb") as f:
            await c.images.edit(image=f, prompt="make it sepia")
        with pytest.raises(openai.AuthenticationError):
            await c.models.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


async def test_empty_balance_is_402_with_our_message(api: Api, photo: Path) -> None:
    poor = await api.account("poor@example.com", credits=0)
    async with openai.AsyncOpenAI(api_key=poor, base_url=f"{api.url}/v1", max_retries=0) as c:
        with pytest.raises(openai.APIStatusError) as caught, photo.open("rb") as f:
            await c.images.edit(image=f, prompt="make it sepia")
    assert caught.value.status_code == 402
    assert "Insufficient credits" in str(caught.value)
    assert caught.value.code == "insufficient_credits"
    assert await _balance(api, poor) == 0
    assert _calls(api) == 0


@pytest.mark.parametrize(
    ("extra", "param", "message"),
    [
        ({"size": "big"}, "size", "size must be auto or WIDTHxHEIGHT"),
        ({"size": "0x1024"}, "size", "size must be auto or WIDTHxHEIGHT"),
        ({"n": 2}, "n", "n must be 1"),
        (
            {"model": "dall-e-2"},
            "model",
            f"model must be one of: {', '.join(sorted(default_catalog()))}",
        ),
        ({"response_format": "svg"}, "response_format", "response_format must be url or"),
        ({"output_format": "webp"}, "output_format", "output_format must be png or jpeg"),
    ],
)
async def test_bad_fields_are_bad_request(
    api: Api,
    client: openai.AsyncOpenAI,
    key: str,
    photo: Path,
    extra: dict[str, object],
    param: str,
    message: str,
) -> None:
    with pytest.raises(openai.BadRequestError) as caught, photo.open("rb") as f:
        await client.images.edit(image=f, prompt="make it sepia", **extra)  # type: ignore[arg-type]
    assert caught.value.param == param
    assert message in caught.value.message
    assert await _balance(api, key) == 100
    assert _calls(api) == 0


async def test_an_image_that_is_not_one_is_bad_request(
    api: Api, client: openai.AsyncOpenAI, key: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.images.edit(image=("notes.png", b"not an image", "image/png"), prompt="x y")
    assert "image" in caught.value.message
    assert "image_url" not in caught.value.message
    assert await _balance(api, key) == 100


async def test_credits_move_as_on_the_native_route(
    api: Api, client: openai.AsyncOpenAI, key: str, photo: Path
) -> None:
    data_uri = "data:image/jpeg;base64," + base64.b64encode(photo.read_bytes()).decode()
    native = await api.imagine(
        key, prompt="make it sepia", image_url=data_uri, model="flux-kontext-pro"
    )
    assert native.status_code == 200
    assert await _balance(api, key) == 96
    with photo.open("rb") as f:
        result = await client.images.edit(model="flux-kontext-pro", image=f, prompt="make it sepia")
    assert result.usage is not None
    assert (result.usage.model_extra or {})["credits_used"] == native.json()["credits_used"] == 4
    assert await _balance(api, key) == 92


async def test_models_list_and_retrieve(api: Api, client: openai.AsyncOpenAI) -> None:
    page = await client.models.list()
    ids = [m.id for m in page.data]
    assert set(ids) == set(api.services.catalog)
    assert all(m.object == "model" and m.owned_by == "imagine" for m in page.data)
    model = await client.models.retrieve("flux-kontext-pro")
    assert (model.model_extra or {})["credits"] == 4
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("dall-e-2")


async def test_idempotency_key_charges_once(
    api: Api, client: openai.AsyncOpenAI, key: str, photo: Path
) -> None:
    results = []
    for _ in range(2):
        with photo.open("rb") as f:
            raw = await client.images.with_raw_response.edit(
                image=f, prompt="make it sepia", extra_headers={"Idempotency-Key": "oai-1"}
            )
        results.append((raw.headers.get("idempotent-replayed"), raw.parse()))
    (first_replayed, first), (second_replayed, second) = results
    assert (first_replayed, second_replayed) == (None, "true")
    assert second.data[0].url == first.data[0].url
    assert await _balance(api, key) == 92
    assert _calls(api) == 1
    # Another file under the same key is another request.
    other = image_bytes((640, 480), color=(10, 200, 10))
    with pytest.raises(openai.UnprocessableEntityError):
        await client.images.edit(
            image=("p.jpg", other, "image/jpeg"),
            prompt="make it sepia",
            extra_headers={"Idempotency-Key": "oai-1"},
        )


async def test_native_errors_keep_the_contract_shape(api: Api) -> None:
    r = await api.client.post("/api/v1/imagine", json={}, headers={"Authorization": "Bearer x"})
    assert (r.status_code, r.json()) == (401, {})
    r = await api.client.get("/v1/models", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert r.headers["cache-control"] == "no-store"


async def test_a_json_body_is_refused_clearly(api: Api, key: str) -> None:
    r = await api.client.post(
        "/v1/images/edits",
        json={"prompt": "make it sepia", "image": "x"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "image"


class Full:
    """An in-flight limiter whose account is always at its plan's limit."""

    async def acquire(self, account_id: str, limit: int) -> str | None:
        return None

    async def release(self, account_id: str, token: str) -> None:
        return None


def _full(services: Services) -> None:
    _counting(services)
    services.limiter = Full()


@pytest.mark.parametrize("prepare_services", [_full])
async def test_a_full_plan_is_rate_limit_error_and_frees_the_key(
    api: Api, client: openai.AsyncOpenAI, key: str, photo: Path
) -> None:
    for _ in range(2):  # a 429 is not stored: the same key runs (and is refused) again
        with pytest.raises(openai.RateLimitError) as caught, photo.open("rb") as f:
            await client.images.edit(
                image=f, prompt="make it sepia", extra_headers={"Idempotency-Key": "busy"}
            )
        assert caught.value.response.headers["retry-after"] == "1"
        assert caught.value.response.headers.get("idempotent-replayed") is None
        assert caught.value.code == "rate_limit_exceeded"
    assert await _balance(api, key) == 100
