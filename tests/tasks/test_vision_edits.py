"""Object-aware edits through HTTP (issue: an offline engine that knows what it is looking
at). A named object that is not in the picture leaves the image as it was, says which word,
and costs nothing; with the bundled models, "make the cat blue" paints the tabby at 1:1.
GET /api/v1/models names the active vision models."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from imagine.engines.offline.engine import OfflineEngine
from imagine.engines.offline.vision.base import Vision
from imagine.engines.offline.vision.fakes import FakeDetector, FakeSegmenter
from imagine.services import Services
from tests.conftest import Api
from tests.engines.offline.vision.fixtures import bundled_safety, bundled_vision
from tests.support import ImageHost

skdata = pytest.importorskip("skimage.data")

__all__ = ["bundled_safety", "bundled_vision"]  # fixtures used below
MODEL = "flux-kontext-max"
PRICE = 8


def jpeg(photo: Any) -> bytes:
    out = io.BytesIO()
    Image.fromarray(photo).save(out, "JPEG", quality=92)
    return out.getvalue()


def with_vision(vision: Vision) -> Any:
    def prepare(services: Services) -> None:
        services.routes[MODEL].engine = OfflineEngine(vision)

    return prepare


async def balance(api: Api, key: str) -> int:
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    return int(r.json()["credits"])


@pytest.mark.parametrize(
    "prepare_services", [with_vision(Vision(FakeDetector([]), FakeSegmenter()))]
)
async def test_an_object_not_in_the_picture_is_not_charged(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=100)
    data = jpeg(skdata.chelsea())
    r = await api.imagine(key, prompt="make the car red", image_url=image_host.add("/c.jpg", data))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["applied"] == [] and body["credits_used"] == 0
    assert any('found no "car"' in w for w in body["warnings"]), body["warnings"]
    assert await balance(api, key) == 100


@pytest.fixture
def prepare_services(bundled_vision: Vision) -> Any:
    """The app's offline engine with the session's bundled models (loaded once)."""
    return with_vision(bundled_vision)


async def test_make_the_cat_blue_with_the_bundled_models(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=100)
    data = jpeg(skdata.chelsea())
    r = await api.imagine(key, prompt="make the cat blue", image_url=image_host.add("/c.jpg", data))
    body = r.json()
    assert r.status_code == 200 and body["applied"] == ["recolour cat → blue"], body
    assert body["credits_used"] == PRICE
    out = np.asarray(
        Image.open(io.BytesIO((await api.client.get(body["image_url"])).content)).convert("RGB")
    ).astype(int)
    centre = out[300:700, 300:700]  # the tabby's face fills the centre of the 1:1 crop
    blue = (centre[..., 2] > centre[..., 0] + 40) & (centre[..., 2] > centre[..., 1] + 40)
    assert blue.mean() > 0.8


@pytest.mark.parametrize("settings_overrides", [{"vision": "auto", "safety": "flag"}])
async def test_models_name_the_active_vision_models(
    bundled_vision: Vision, bundled_safety: Any, api: Api
) -> None:
    # the models' fixtures come first: without the extra they skip before the app is built
    key = await api.account(credits=100)
    models = (await api.client.get("/api/v1/models", headers={"Authorization": key})).json()
    offline = [m for m in models["models"] if m["engines"] == ["offline"]]
    assert offline
    for entry in offline:
        joined = " ".join(entry["vision"])
        assert "detector" in joined and "segmenter" in joined and "safety" in joined


@pytest.mark.parametrize("settings_overrides", [{"vision": "off"}])
async def test_models_say_when_no_vision_model_is_active(api: Api) -> None:
    key = await api.account(credits=100)
    models = (await api.client.get("/api/v1/models", headers={"Authorization": key})).json()
    assert all(m["vision"] == [] for m in models["models"])
