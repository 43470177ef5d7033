"""Routes from settings: which engines serve each model, and what happens without keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from imagine.catalog import default_catalog
from imagine.engines.base import EditOptions
from imagine.engines.bfl import BflEngine
from imagine.engines.failover import FailoverEngine
from imagine.engines.offline.engine import OfflineEngine
from imagine.engines.registry import ModelRoute, build_routes, log_routes
from imagine.settings import Settings

from .fake_bfl import bfl_app
from .fakes import SECRET, FakeServer, FakeTime, input_image, provider_client


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("IMAGINE_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with provider_client() as client:
        yield client


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(bfl_app) as running:
        yield running


def routes(http: httpx.AsyncClient, **settings: Any) -> dict[str, ModelRoute]:
    ftime = FakeTime()
    return build_routes(Settings(**settings), default_catalog(), http, ftime.clock, ftime.sleep)


async def test_no_keys_serves_offline_when_allowed(http) -> None:
    built = routes(http)
    for route in built.values():
        assert route.available and route.offline and route.engine_names == ["offline"]
        assert isinstance(route.engine, OfflineEngine)
    assert built["flux-kontext-max"].public() == {
        "id": "flux-kontext-max",
        "price": 8,
        "available": True,
        "engines": ["offline"],
    }


async def test_no_keys_and_no_fallback_is_unavailable(http) -> None:
    built = routes(http, default_engine="bfl", allow_offline_fallback=False)
    route = built["flux-kontext-max"]
    assert route.engine is None and not route.available and route.skipped == ["bfl"]
    assert route.public()["available"] is False
    explicit = routes(http, allow_offline_fallback=False, engines={"flux-kontext-pro": "fal"})
    assert not explicit["flux-kontext-pro"].available
    assert explicit["flux-kontext-max"].engine_names == ["offline"]  # default_engine offline


async def test_a_bfl_key_makes_every_model_real(http) -> None:
    built = routes(http, bfl_api_key=SECRET)
    hosted = [r for r in built.values() if r.model.id != "flux-kontext-dev"]  # local-only
    for route in hosted:
        assert isinstance(route.engine, BflEngine) and route.engine_names == ["bfl"]
    maxi, pro = built["flux-kontext-max"].engine, built["flux-kontext-pro"].engine
    assert isinstance(maxi, BflEngine) and isinstance(pro, BflEngine)
    assert [lim.capacity for lim in maxi.limiters] == [6, 24]
    assert [lim.capacity for lim in pro.limiters] == [24]
    assert maxi.limiters[1] is pro.limiters[0]  # one account-wide cap per key


async def test_default_chain_is_keyed_upstreams_in_order(http) -> None:
    built = routes(http, replicate_api_token="r", fal_api_key="f", bfl_api_key="b")
    engine = built["flux-kontext-max"].engine
    assert isinstance(engine, FailoverEngine)
    assert engine.names == ["bfl", "fal", "replicate"]
    assert built["flux-kontext-pro"].engine_names == ["bfl", "fal", "replicate"]


async def test_env_list_orders_and_skips_missing_keys(http, monkeypatch) -> None:
    monkeypatch.setenv("IMAGINE_ENGINES__FLUX_KONTEXT_MAX", "replicate,fal,bfl")
    monkeypatch.setenv("IMAGINE_BFL_API_KEY", SECRET)
    monkeypatch.setenv("IMAGINE_FAL_API_KEY", SECRET)
    built = routes(http)
    maxi = built["flux-kontext-max"]
    assert maxi.engine_names == ["fal", "bfl"] and maxi.skipped == ["replicate"]
    assert built["flux-kontext-pro"].engine_names == ["bfl", "fal"]


async def test_log_routes_names_engines_never_keys(http) -> None:
    built = routes(
        http,
        bfl_api_key=SECRET,
        fal_api_key=SECRET + "fal",
        engines={"flux-kontext-pro": "diffusers"},
        allow_offline_fallback=False,
    )
    with capture_logs() as logs:
        log_routes(built)
    assert {e["model"] for e in logs} == set(default_catalog())
    served = next(e for e in logs if e["model"] == "flux-kontext-max")
    assert served["engines"] == ["bfl", "fal"] and served["log_level"] == "info"
    # fal serves FLUX.2 [pro] (its edit and text-to-image apps), not [klein]: skipped.
    flux2 = next(e for e in logs if e["model"] == "flux-2-pro")
    assert flux2["engines"] == ["bfl", "fal"]
    klein = next(e for e in logs if e["model"] == "flux-2-klein-4b")
    assert klein["engines"] == ["bfl"] and "fal" in klein["note"]
    unavailable = next(e for e in logs if e["model"] == "flux-kontext-pro")
    assert unavailable["log_level"] == "warning"
    assert SECRET not in repr(logs) and "http" not in repr(logs)


async def test_built_route_edits_through_the_fake(http, server) -> None:
    fake = server.reset()
    built = routes(http, bfl_api_key=SECRET, bfl_base_url=fake.base_url)
    engine = built["flux-kontext-pro"].engine
    assert engine is not None
    result = await engine.edit(
        input_image(), "p", EditOptions("flux-kontext-pro", "1:1", 1024, 1024)
    )
    assert result.engine == "bfl" and fake.requests[0] == ("POST", "/v1/flux-kontext-pro")


async def test_an_upstream_whose_body_cannot_carry_the_model_is_skipped(http) -> None:
    # fal's Kontext body takes one image and cannot generate: a catalog that gives a
    # Kontext-shaped model more inputs, or text-to-image, does not route there (bfl serves
    # it; fal is skipped with a note).
    catalog = default_catalog()
    kontext = catalog["flux-kontext-pro"]
    catalog["multi"] = replace(kontext, id="multi", max_images=3)
    catalog["painter"] = replace(kontext, id="painter", kind="generate")
    built = build_routes(
        Settings(bfl_api_key=SECRET, fal_api_key=SECRET + "fal"),
        catalog,
        http,
        FakeTime().clock,
        FakeTime().sleep,
    )
    for model in ("multi", "painter"):
        assert built[model].engine_names == ["bfl"] and built[model].skipped == ["fal"]
    assert built["flux-kontext-pro"].engine_names == ["bfl", "fal"]
    assert built["flux-2-pro"].engine_names == ["bfl", "fal"]
