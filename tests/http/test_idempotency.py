"""Idempotency-Key on POST /api/v1/imagine, over real HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from imagine.errors import UpstreamUnavailable
from imagine.services import Services
from tests.conftest import Api, PrepareServices
from tests.http.counting import CountingEngine
from tests.support import ImageHost, image_bytes

MODEL = "flux-kontext-max"


def _counting(services: Services) -> None:
    route = services.routes[MODEL]
    assert route.engine is not None
    route.engine = CountingEngine(route.engine)


def _slow(services: Services) -> None:
    route = services.routes[MODEL]
    assert route.engine is not None
    route.engine = CountingEngine(route.engine, delay=1.5)


def _engine(api: Api) -> CountingEngine:
    engine = api.services.routes[MODEL].engine
    assert isinstance(engine, CountingEngine)
    return engine


async def _balance(api: Api, key: str) -> int:
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    return int(r.json()["credits"])


async def _post(api: Api, key: str, idem: str, **body: Any) -> Any:
    return await api.client.post(
        "/api/v1/imagine",
        json=body,
        headers={"Authorization": key, "Idempotency-Key": idem},
    )


@pytest.fixture
def photo(image_host: ImageHost) -> str:
    return image_host.add("/in.jpg", image_bytes((640, 480)))


@pytest.fixture
def prepare_services() -> PrepareServices:
    """Every test here counts the engine's calls."""
    return _counting


async def test_repeat_replays_without_a_second_charge_or_edit(api: Api, photo: str) -> None:
    key = await api.account(credits=100)
    first = await _post(api, key, "order-1", prompt="make it sepia", image_url=photo)
    second = await _post(api, key, "order-1", prompt="make it sepia", image_url=photo)
    assert first.status_code == second.status_code == 200, first.text
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _engine(api).calls == 1
    assert await _balance(api, key) == 92
    # Key order and whitespace of the JSON do not make it another request.
    third = await api.client.post(
        "/api/v1/imagine",
        content=f'{{ "image_url": "{photo}",  "prompt": "make it sepia" }}',
        headers={
            "Authorization": key,
            "Idempotency-Key": "order-1",
            "content-type": "application/json",
        },
    )
    assert third.json() == first.json()


async def test_concurrent_duplicates_run_once(api: Api, photo: str) -> None:
    key = await api.account(credits=100)
    answers = await asyncio.gather(
        *(_post(api, key, "burst", prompt="make it sepia", image_url=photo) for _ in range(4))
    )
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["task_id"] for r in answers}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in answers) == 1
    assert _engine(api).calls == 1
    assert await _balance(api, key) == 92


async def test_same_key_other_request_is_422(api: Api, photo: str) -> None:
    key = await api.account(credits=100)
    first = await _post(api, key, "k", prompt="make it sepia", image_url=photo)
    assert first.status_code == 200
    other = await _post(api, key, "k", prompt="make it sepia", image_url=photo, seed=3)
    assert other.status_code == 422
    (error,) = other.json()["errors"]
    assert "Idempotency-Key was already used with a different request" in error["msg"]
    assert "POST /api/v1/imagine" in error["msg"]
    assert _engine(api).calls == 1
    assert await _balance(api, key) == 92


async def test_keys_are_per_account(api: Api, photo: str) -> None:
    alice = await api.account("alice@example.com", credits=100)
    bob = await api.account("bob@example.com", credits=100)
    a = await _post(api, alice, "shared", prompt="make it sepia", image_url=photo)
    b = await _post(api, bob, "shared", prompt="make it sepia", image_url=photo)
    assert a.status_code == b.status_code == 200
    assert a.json()["task_id"] != b.json()["task_id"]
    assert "idempotent-replayed" not in b.headers
    assert _engine(api).calls == 2
    assert await _balance(api, alice) == await _balance(api, bob) == 92


async def test_expired_key_runs_again(api: Api, photo: str) -> None:
    key = await api.account(credits=100)
    first = await _post(api, key, "daily", prompt="make it sepia", image_url=photo)
    api.clock.advance(timedelta(days=1, seconds=1))
    again = await _post(api, key, "daily", prompt="make it sepia", image_url=photo)
    assert again.status_code == 200
    assert again.json()["task_id"] != first.json()["task_id"]
    assert "idempotent-replayed" not in again.headers
    assert _engine(api).calls == 2
    assert await _balance(api, key) == 84


async def test_errors_are_replayed_but_busy_answers_release_the_key(api: Api, photo: str) -> None:
    key = await api.account(credits=100)
    # 503 (retry later): not stored, the retry with the same key runs.
    _engine(api).fail_with = UpstreamUnavailable()
    busy = await _post(api, key, "retry-me", prompt="make it sepia", image_url=photo)
    assert busy.status_code == 503
    _engine(api).fail_with = None
    ok = await _post(api, key, "retry-me", prompt="make it sepia", image_url=photo)
    assert ok.status_code == 200
    assert "idempotent-replayed" not in ok.headers
    assert _engine(api).calls == 2
    assert await _balance(api, key) == 92
    # A decided failure (402) is stored: the same key keeps answering it.
    poor = await api.account("poor@example.com", credits=0)
    refused = await _post(api, poor, "p", prompt="make it sepia", image_url=photo)
    assert refused.status_code == 402
    again = await _post(api, poor, "p", prompt="make it sepia", image_url=photo)
    assert again.status_code == 402
    assert again.json() == refused.json() == {"errors": [{"msg": "Insufficient credits"}]}
    assert again.headers["idempotent-replayed"] == "true"


async def test_invalid_body_is_not_stored(api: Api, photo: str) -> None:
    key = await api.account(credits=100)
    bad = await _post(api, key, "k2", prompt="", image_url=photo)
    assert bad.status_code == 400
    ok = await _post(api, key, "k2", prompt="make it sepia", image_url=photo)
    assert ok.status_code == 200
    assert "idempotent-replayed" not in ok.headers


@pytest.mark.parametrize("idem", ["", "x" * 256, "clé", "tab\there"])
async def test_malformed_key_is_400(api: Api, photo: str, idem: str) -> None:
    key = await api.account(credits=100)
    r = await api.client.post(
        "/api/v1/imagine",
        json={"prompt": "make it sepia", "image_url": photo},
        headers={"Authorization": key, "Idempotency-Key": idem.encode()},
    )
    assert r.status_code == 400
    assert "Idempotency-Key" in r.json()["errors"][0]["msg"]
    assert _engine(api).calls == 0
    assert await _balance(api, key) == 100


async def test_longest_key_is_accepted(api: Api, photo: str) -> None:
    key = await api.account(credits=100)
    r = await _post(api, key, "~" * 255, prompt="make it sepia", image_url=photo)
    assert r.status_code == 200


@pytest.mark.parametrize("prepare_services", [_slow])
async def test_duplicate_waits_for_the_running_request(api: Api, photo: str) -> None:
    key = await api.account(credits=100)
    first = asyncio.create_task(_post(api, key, "slow", prompt="make it sepia", image_url=photo))
    await asyncio.sleep(0.5)  # the first is inside the (slow) engine now
    second = await _post(api, key, "slow", prompt="make it sepia", image_url=photo)
    done = await first
    assert done.status_code == second.status_code == 200
    assert second.json() == done.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert _engine(api).calls == 1
    assert await _balance(api, key) == 92


@pytest.mark.parametrize("settings_overrides", [{"idempotency_wait": 0.2}])
@pytest.mark.parametrize("prepare_services", [_slow])
async def test_duplicate_gets_409_when_the_first_runs_too_long(api: Api, photo: str) -> None:
    key = await api.account(credits=100)
    first = asyncio.create_task(_post(api, key, "slow", prompt="make it sepia", image_url=photo))
    await asyncio.sleep(0.5)
    second = await _post(api, key, "slow", prompt="make it sepia", image_url=photo)
    assert second.status_code == 409
    assert second.headers["retry-after"] == "1"
    assert "still in progress" in second.json()["errors"][0]["msg"]
    assert (await first).status_code == 200
    assert _engine(api).calls == 1
    assert await _balance(api, key) == 92
