"""POST /api/v1/imagine through real HTTP, with a real image host on loopback."""

from __future__ import annotations

import base64
import io
import uuid

from PIL import Image

from tests.conftest import Api
from tests.support import ImageHost, image_bytes

SEED_PROMPT = "change the car color to matte black and add rain reflections on the road"


async def test_documented_request_returns_finished_png(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=100)
    url = image_host.add("/car.jpg", image_bytes((800, 600)), content_type="image/jpeg")
    r = await api.imagine(key, model="flux-kontext-max", prompt=SEED_PROMPT, image_url=url)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "finished"
    assert uuid.UUID(body["task_id"])
    assert body["image_url"].startswith(f"{api.url}/files/")
    assert body["image_url"].endswith(".png")
    assert body["credits_used"] == 8
    img = await api.client.get(body["image_url"])
    assert img.status_code == 200
    assert img.headers["content-type"] == "image/png"
    assert "max-age=" in img.headers["cache-control"]
    decoded = Image.open(io.BytesIO(img.content))
    assert decoded.format == "PNG"
    assert decoded.size == (1024, 1024)
    account = (await api.client.get("/api/v1/account", headers={"Authorization": key})).json()
    assert account["credits"] == 92
    assert account["total_images"] == 1


async def test_aspect_ratio_sizes_and_jpeg(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=100)
    url = image_host.add("/a.png", image_bytes((300, 900), "PNG"))
    for ratio, size in [("16:9", (1360, 768)), ("9:16", (768, 1360)), ("3:2", (1248, 832))]:
        r = await api.imagine(
            key,
            prompt="make it brighter",
            image_url=url,
            aspect_ratio=ratio,
            model="flux-kontext-pro",
            output_format="jpeg",
        )
        assert r.status_code == 200, r.text
        assert r.json()["credits_used"] == 4
        assert r.json()["image_url"].endswith(".jpg")
        got = await api.client.get(r.json()["image_url"])
        assert got.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(got.content)).size == size


async def test_data_uri_and_bearer_key(api: Api) -> None:
    key = await api.account()
    data = base64.b64encode(image_bytes((64, 64), "PNG")).decode()
    r = await api.client.post(
        "/api/v1/imagine",
        json={"prompt": "make it black and white", "image_url": f"data:image/png;base64,{data}"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 200, r.text
    img = Image.open(io.BytesIO((await api.client.get(r.json()["image_url"])).content))
    r_, g_, b_ = img.convert("RGB").split()
    assert r_.tobytes() == g_.tobytes() == b_.tobytes()


async def test_unknown_instruction_warns_and_passes_through(
    api: Api, image_host: ImageHost
) -> None:
    key = await api.account()
    url = image_host.add("/x.jpg", image_bytes())
    r = await api.imagine(key, prompt="teleport the zebra onto jupiter", image_url=url)
    assert r.status_code == 200
    assert any("zebra" in w for w in r.json()["warnings"])


async def test_non_english_prompt_warns_by_default(api: Api, image_host: ImageHost) -> None:
    key = await api.account()
    url = image_host.add("/x.jpg", image_bytes())
    r = await api.imagine(key, prompt="change la couleur de la voiture en noir mat", image_url=url)
    assert r.status_code == 200
    assert any("English" in w for w in r.json()["warnings"])


async def test_exif_orientation_is_applied(api: Api, image_host: ImageHost) -> None:
    img = Image.new("RGB", (400, 200), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 200, 200))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    key = await api.account()
    url = image_host.add("/rot.jpg", buf.getvalue())
    r = await api.imagine(key, prompt="a", image_url=url, aspect_ratio="9:16")
    assert r.status_code == 200, r.text
    out = Image.open(io.BytesIO((await api.client.get(r.json()["image_url"])).content))
    assert out.size == (768, 1360)
    top = out.convert("RGB").getpixel((384, 100))
    assert isinstance(top, tuple)
    assert top[2] > 150 and top[0] < 100  # displayed upright: blue on top after rotation


async def test_output_has_no_metadata(api: Api, image_host: ImageHost) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    key = await api.account()
    url = image_host.add("/m.jpg", image_bytes(exif=exif))
    r = await api.imagine(key, prompt="blur", image_url=url, output_format="jpeg")
    content = (await api.client.get(r.json()["image_url"])).content
    assert b"SecretCam" not in content
    assert not Image.open(io.BytesIO(content)).getexif()
