"""The safety check of local engines (IMAGINE_SAFETY), through HTTP: `block` answers 422
Content policy violation and charges nothing; `flag` finishes with a warning; the input and
the output are both scored. The classifier is a fake here (no NSFW test pictures); the
bundled one is checked on safe photos in tests/engines/offline/vision/test_bundled.py."""

from __future__ import annotations

from typing import Any

import pytest

from imagine.engines.moderation import ModeratedEngine
from imagine.engines.offline.engine import OfflineEngine
from imagine.engines.offline.vision.fakes import FakeSafetyClassifier
from imagine.services import Services
from tests.conftest import Api
from tests.support import ImageHost, image_bytes

MODEL = "flux-kontext-max"


def guarded(score: float, mode: str) -> Any:
    """prepare_services: the offline engine behind a fake classifier answering `score`."""

    def prepare(services: Services) -> None:
        classifier = FakeSafetyClassifier(score)
        engine = ModeratedEngine(OfflineEngine(), classifier, mode, 0.8)  # type: ignore[arg-type]
        services.routes[MODEL].engine = engine
        services.routes[MODEL].__dict__["fake_classifier"] = classifier

    return prepare


async def balance(api: Api, key: str) -> int:
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    return int(r.json()["credits"])


@pytest.mark.parametrize("prepare_services", [guarded(0.95, "block")])
async def test_block_is_422_and_costs_nothing(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=100)
    url = image_host.add("/in.jpg", image_bytes())
    r = await api.imagine(key, prompt="add snow", image_url=url)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["errors"] == [{"msg": "Content policy violation"}] and body["task_id"]
    task = await api.client.post(
        "/api/v1/fetch", json={"task_id": body["task_id"]}, headers={"Authorization": key}
    )
    assert task.json()["status"] == "failed"
    assert task.json()["error"] == "Content policy violation"
    assert await balance(api, key) == 100


@pytest.mark.parametrize("prepare_services", [guarded(0.95, "flag")])
async def test_flag_finishes_with_a_warning_for_input_and_output(
    api: Api, image_host: ImageHost
) -> None:
    key = await api.account(credits=100)
    url = image_host.add("/in.jpg", image_bytes())
    r = await api.imagine(key, prompt="add snow", image_url=url)
    assert r.status_code == 200, r.text
    flagged = [w for w in r.json()["warnings"] if "safety check flagged" in w]
    assert len(flagged) == 2 and "input" in flagged[0] and "output" in flagged[1]
    assert await balance(api, key) == 100 - 8
    assert api.services.routes[MODEL].__dict__["fake_classifier"].calls == 2


@pytest.mark.parametrize("prepare_services", [guarded(0.1, "block")])
async def test_safe_images_pass_without_a_word(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=100)
    url = image_host.add("/in.jpg", image_bytes())
    r = await api.imagine(key, prompt="add snow", image_url=url)
    assert r.status_code == 200, r.text
    assert not any("safety" in w for w in r.json()["warnings"])
