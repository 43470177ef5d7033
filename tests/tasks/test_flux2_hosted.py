"""FLUX.2 through fal and Replicate, through HTTP against their loopback fakes (which check
the FLUX.2 body as the real schemas do): every reference in order in the provider's list,
text-to-image without any image (fal: its text-to-image app), failover from bfl, refusals
mapped as for Kontext, and FLUX.2 [flex]'s guidance/steps/prompt_upsampling."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from imagine.engines.upstream import Sleep
from tests.conftest import Api, quick_sleep
from tests.engines.fake_bfl import bfl_app
from tests.engines.fake_hosted import fal_app, replicate_app
from tests.engines.fakes import SECRET, Answer, FakeServer
from tests.support import ImageHost

COLOURS = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]


@pytest.fixture
def upstream_sleep() -> Sleep:
    """Polls a twentieth as far apart: these tests check what reaches the providers and
    what comes back, never how long a poll waits."""
    return quick_sleep


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeServer]]:
    with (
        FakeServer(bfl_app) as bfl,
        FakeServer(fal_app) as fal,
        FakeServer(replicate_app) as replicate,
    ):
        yield {"bfl": bfl, "fal": fal, "replicate": replicate}


def _settings(fakes: dict[str, FakeServer], *names: str) -> dict[str, Any]:
    """Keys for the named providers only (the registry's order: bfl, fal, replicate)."""
    for fake in fakes.values():
        fake.reset()
    keys = {"bfl": "bfl_api_key", "fal": "fal_api_key", "replicate": "replicate_api_token"}
    values: dict[str, Any] = {"allow_offline_fallback": False}
    for name in names:
        values[keys[name]] = SECRET
        values[f"{name}_base_url"] = fakes[name].base_url
    return values


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest, fakes: dict[str, FakeServer]) -> Any:
    return _settings(fakes, *getattr(request, "param", ("bfl",)))


def solid(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), colour).save(buffer, "PNG")
    return buffer.getvalue()


def colour_of(uri: str) -> tuple[int, int, int]:
    assert uri.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.partition(",")[2]))) as img:
        pixel = img.convert("RGB").getpixel((2, 2))
    assert isinstance(pixel, tuple)
    return (pixel[0], pixel[1], pixel[2])


async def _references(api: Api, image_host: ImageHost, key: str, model: str) -> Any:
    urls = [image_host.add(f"/r{n}.png", solid(c)) for n, c in enumerate(COLOURS)]
    return await api.imagine(
        key,
        prompt="put the three objects on one table",
        model=model,
        image_url=urls[0],
        image_urls=urls[1:],
        aspect_ratio="16:9",
        seed=7,
    )


@pytest.mark.parametrize("settings_overrides", [("replicate",)], indirect=True)
async def test_replicate_gets_every_reference_in_order_in_input_images(
    api: Api, image_host: ImageHost, fakes: dict[str, FakeServer]
) -> None:
    key = await api.account(credits=100)
    r = await _references(api, image_host, key, "flux-2-pro")
    assert r.status_code == 200, r.text
    assert r.json()["engine"] == "replicate" and r.json()["credits_used"] == 3
    fake = fakes["replicate"].state
    assert fake.requests[0] == ("POST", "/v1/models/black-forest-labs/flux-2-pro/predictions")
    sent = fake.bodies[0]["body"]["input"]
    assert [colour_of(u) for u in sent["input_images"]] == COLOURS
    assert "input_image" not in sent
    assert (sent["aspect_ratio"], sent["resolution"]) == ("16:9", "1 MP")
    assert (sent["seed"], sent["output_format"], sent["safety_tolerance"]) == (7, "png", 2)


@pytest.mark.parametrize("settings_overrides", [("fal",)], indirect=True)
async def test_fal_gets_every_reference_in_order_in_image_urls(
    api: Api, image_host: ImageHost, fakes: dict[str, FakeServer]
) -> None:
    key = await api.account(credits=100)
    r = await _references(api, image_host, key, "flux-2-max")
    assert r.status_code == 200, r.text
    assert r.json()["engine"] == "fal" and r.json()["credits_used"] == 6
    fake = fakes["fal"].state
    assert fake.requests[0] == ("POST", "/fal-ai/flux-2-max/edit")
    sent = fake.bodies[0]
    assert [colour_of(u) for u in sent["image_urls"]] == COLOURS
    assert sent["image_size"] == {"width": 1360, "height": 768}
    assert (sent["seed"], sent["output_format"], sent["safety_tolerance"]) == (7, "png", "2")


@pytest.mark.parametrize("settings_overrides", [("fal",)], indirect=True)
async def test_fal_text_to_image_goes_to_the_generate_app_with_no_image(
    api: Api, fakes: dict[str, FakeServer]
) -> None:
    key = await api.account(credits=100)
    r = await api.imagine(key, prompt="a red bicycle", model="flux-2-pro", aspect_ratio="3:2")
    assert r.status_code == 200, r.text
    fake = fakes["fal"].state
    assert fake.requests[0] == ("POST", "/fal-ai/flux-2-pro")
    assert "image_urls" not in fake.bodies[0]
    assert fake.bodies[0]["image_size"] == {"width": 1248, "height": 832}


@pytest.mark.parametrize("settings_overrides", [("replicate",)], indirect=True)
async def test_replicate_text_to_image_sends_no_image(
    api: Api, fakes: dict[str, FakeServer]
) -> None:
    key = await api.account(credits=100)
    r = await api.imagine(key, prompt="a red bicycle", model="flux-2-max", aspect_ratio="9:16")
    assert r.status_code == 200, r.text
    sent = fakes["replicate"].state.bodies[0]["body"]["input"]
    assert "input_images" not in sent and sent["aspect_ratio"] == "9:16"


@pytest.mark.parametrize("settings_overrides", [("bfl", "replicate")], indirect=True)
async def test_flux2_fails_over_from_bfl_to_replicate(
    api: Api, image_host: ImageHost, fakes: dict[str, FakeServer]
) -> None:
    key = await api.account(credits=100)
    fakes["bfl"].state.submit_plan = [Answer(503, {"detail": "down"})] * 3
    r = await _references(api, image_host, key, "flux-2-max")
    assert r.status_code == 200, r.text
    assert r.json()["engine"] == "replicate"
    assert [p for _, p in fakes["bfl"].state.requests] == ["/v1/flux-2-max"] * 3
    sent = fakes["replicate"].state.bodies[0]["body"]["input"]
    assert [colour_of(u) for u in sent["input_images"]] == COLOURS


@pytest.mark.parametrize(
    ("settings_overrides", "outcome", "status", "message"),
    [
        (("replicate",), "flagged", 422, "Content policy violation"),
        (("fal",), "nsfw", 422, "Content policy violation"),
        (("fal",), "policy", 422, "Content policy violation"),
        (("fal",), "error", 502, None),
        (("replicate",), "error", 502, None),
    ],
    indirect=["settings_overrides"],
)
async def test_refusals_and_errors_map_as_for_kontext(
    api: Api, fakes: dict[str, FakeServer], outcome: str, status: int, message: str | None
) -> None:
    key = await api.account(credits=100)
    for fake in (fakes["fal"], fakes["replicate"]):
        fake.state.outcome = outcome
    r = await api.imagine(key, prompt="a red bicycle", model="flux-2-pro")
    assert r.status_code == status, r.text
    if message is not None:
        assert r.json()["errors"] == [{"msg": message}]
    assert "task_id" in r.json()
    balance = await api.client.get("/api/v1/account", headers={"Authorization": key})
    assert balance.json()["credits"] == 100


FLEX = {"guidance": 7.5, "steps": 20, "prompt_upsampling": True}


@pytest.mark.parametrize(
    ("settings_overrides", "expected"),
    [
        (("bfl",), FLEX),
        (("replicate",), FLEX),
        (
            ("fal",),
            {"guidance_scale": 7.5, "num_inference_steps": 20, "enable_prompt_expansion": True},
        ),
    ],
    indirect=["settings_overrides"],
)
async def test_flex_tuning_reaches_the_provider_under_its_names(
    api: Api, fakes: dict[str, FakeServer], expected: dict[str, Any]
) -> None:
    key = await api.account(credits=100)
    r = await api.imagine(key, prompt="a poster", model="flux-2-flex", **FLEX)
    assert r.status_code == 200, r.text
    engine = r.json()["engine"]
    body = fakes[engine].state.bodies[0]
    sent = body["body"]["input"] if engine == "replicate" else body
    assert {k: sent[k] for k in expected} == expected
    if engine == "bfl":
        assert fakes["bfl"].state.requests[0] == ("POST", "/v1/flux-2-flex")


@pytest.mark.parametrize("settings_overrides", [("bfl",)], indirect=True)
async def test_flex_defaults_are_the_providers_when_not_given(
    api: Api, fakes: dict[str, FakeServer]
) -> None:
    key = await api.account(credits=100)
    r = await api.imagine(key, prompt="a poster", model="flux-2-flex", guidance=2)
    assert r.status_code == 200, r.text
    body = fakes["bfl"].state.bodies[0]
    assert body["guidance"] == 2 and "steps" not in body


@pytest.mark.parametrize("settings_overrides", [("fal",)], indirect=True)
async def test_fal_takes_at_least_two_steps(api: Api, fakes: dict[str, FakeServer]) -> None:
    key = await api.account(credits=100)
    r = await api.imagine(key, prompt="a poster", model="flux-2-flex", steps=1)
    assert r.status_code == 200, r.text
    assert fakes["fal"].state.bodies[0]["num_inference_steps"] == 2


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"model": "flux-2-pro", "guidance": 4.0}, ["guidance is not taken by model flux-2-pro"]),
        (
            {"model": "flux-kontext-max", "steps": 10, "prompt_upsampling": False},
            [
                "image_url is required",
                "steps is not taken by model flux-kontext-max",
                "prompt_upsampling is not taken by model flux-kontext-max",
            ],
        ),
        ({"model": "flux-2-flex", "guidance": 11}, ["guidance must be between 1.5 and 10"]),
        ({"model": "flux-2-flex", "steps": 0}, ["steps must be between 1 and 50"]),
        ({"model": "flux-2-flex", "steps": 51}, ["steps must be between 1 and 50"]),
        ({"model": "flux-2-flex", "steps": 2.5}, ["steps must be an integer"]),
        ({"model": "flux-2-flex", "guidance": "high"}, ["guidance must be a number"]),
        ({"model": "flux-2-flex", "prompt_upsampling": 1}, ["prompt_upsampling must be a boolean"]),
    ],
)
async def test_tuning_fields_are_checked_against_the_catalog(
    api: Api, fakes: dict[str, FakeServer], body: dict[str, Any], errors: list[str]
) -> None:
    key = await api.account(credits=100)
    r = await api.imagine(key, prompt="a poster", **body)
    assert r.status_code == 400
    assert r.json() == {"errors": [{"msg": m} for m in errors]}
    assert fakes["bfl"].state.bodies == []


async def test_models_list_each_models_params(api: Api) -> None:
    key = await api.account(credits=1)
    models = (await api.client.get("/api/v1/models", headers={"Authorization": key})).json()
    params = {m["id"]: m["params"] for m in models["models"]}
    assert params["flux-2-flex"] == [
        {"name": "guidance", "type": "number", "min": 1.5, "max": 10.0},
        {"name": "steps", "type": "integer", "min": 1, "max": 50},
        {"name": "prompt_upsampling", "type": "boolean", "min": None, "max": None},
    ]
    assert params["flux-kontext-max"] == [] and params["flux-2-pro"] == []
    engines = {m["id"]: m["engines"] for m in models["models"]}
    assert engines["flux-2-pro"] == ["bfl"]
