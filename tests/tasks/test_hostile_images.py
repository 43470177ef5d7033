"""The hostile image corpus through HTTP: 4xx or a clean 200, bounded time and memory,
credits untouched by every refusal."""

from __future__ import annotations

import base64
import io
import resource
import time

import anyio
from PIL import Image

from imagine import images
from tests.conftest import Api
from tests.hostile_images import corpus, png_bomb
from tests.support import ImageHost


async def test_hostile_images_through_http(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=10_000)
    headers = {"Authorization": key}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    charged = 0
    for i, (name, (data, expected)) in enumerate(sorted(corpus().items())):
        # Extension and Content-Type lie on purpose: only the bytes count.
        url = image_host.add(f"/{i}.jpg", data, content_type="image/jpeg")
        started = time.monotonic()
        r = await api.imagine(
            key, prompt="make it brighter", image_url=url, model="flux-kontext-pro"
        )
        elapsed = time.monotonic() - started
        assert elapsed < 10, (name, elapsed)
        if expected == "ok":
            assert r.status_code == 200, (name, r.text)
            charged += 4
            out = await api.client.get(r.json()["image_url"])
            img = Image.open(io.BytesIO(out.content))
            assert img.size == (1024, 1024)
            assert "exif" not in img.info and not getattr(img, "text", {}), name
        else:
            assert r.status_code == 400, (name, r.text)
            body = r.json()
            assert "task_id" in body, name
            assert body["errors"][0]["msg"].startswith("image_url "), (name, body)
            assert expected in body["errors"][0]["msg"], (name, body)
    account = (await api.client.get("/api/v1/account", headers=headers)).json()
    assert account["credits"] == 10_000 - charged
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mb < 400, f"peak RSS grew by {grown_mb:.0f} MB"
    # Decodes share one limiter per app: at most one per core holds a big image at once.
    slots = api.services.decode_slots
    assert isinstance(slots, anyio.CapacityLimiter)
    assert slots.total_tokens == images.decode_concurrency()
    assert slots.borrowed_tokens == 0


async def test_bomb_as_data_uri_is_refused_cheaply(api: Api) -> None:
    key = await api.account(credits=8)
    uri = "data:image/png;base64," + base64.b64encode(png_bomb()).decode()
    started = time.monotonic()
    r = await api.imagine(key, prompt="make it brighter", image_url=uri)
    assert time.monotonic() - started < 5
    assert r.status_code == 400
    assert "too large: 30000x30000" in r.json()["errors"][0]["msg"]
    account = (await api.client.get("/api/v1/account", headers={"Authorization": key})).json()
    assert account["credits"] == 8
