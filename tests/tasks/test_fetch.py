"""/fetch, /fetch-many, /account and /models through HTTP."""

from __future__ import annotations

import uuid

from tests.conftest import Api
from tests.support import ImageHost, image_bytes


async def _make_task(api: Api, key: str, url: str) -> str:
    r = await api.imagine(key, prompt="make it sepia", image_url=url)
    assert r.status_code == 200, r.text
    return str(r.json()["task_id"])


async def test_fetch_returns_task_object(api: Api, image_host: ImageHost) -> None:
    key = await api.account()
    url = image_host.add("/x.jpg", image_bytes())
    task_id = await _make_task(api, key, url)
    r = await api.client.post(
        "/api/v1/fetch", json={"task_id": task_id}, headers={"Authorization": key}
    )
    assert r.status_code == 200
    body = r.json()
    contract = {"task_id", "task_type", "model", "status", "percentage", "image_url", "error"}
    assert set(body) == contract | {"engine", "warnings", "applied"}  # additive fields
    assert body["task_id"] == task_id
    assert body["task_type"] == "edit"
    assert body["model"] == "flux-kontext-max"
    assert body["status"] == "finished"
    assert body["percentage"] == "100"
    assert body["image_url"].startswith(api.url + "/files/")
    assert body["error"] is None


async def test_fetch_unknown_and_foreign_tasks_are_404(api: Api, image_host: ImageHost) -> None:
    owner = await api.account("owner@example.com")
    other = await api.account("other@example.com")
    url = image_host.add("/x.jpg", image_bytes())
    task_id = await _make_task(api, owner, url)
    for key, tid in [(other, task_id), (owner, str(uuid.uuid4())), (owner, "not-a-uuid")]:
        r = await api.client.post(
            "/api/v1/fetch", json={"task_id": tid}, headers={"Authorization": key}
        )
        assert r.status_code == 404
        assert r.json() == {"errors": [{"msg": "Task not found"}]}
    r = await api.client.post("/api/v1/fetch", json={}, headers={"Authorization": owner})
    assert r.status_code == 400
    assert r.json() == {"errors": [{"msg": "task_id is required"}]}
    r = await api.client.post(
        "/api/v1/fetch", json={"task_id": 7}, headers={"Authorization": owner}
    )
    assert r.json() == {"errors": [{"msg": "task_id must be a string"}]}


async def test_fetch_many(api: Api, image_host: ImageHost) -> None:
    key = await api.account()
    other = await api.account("other@example.com")
    url = image_host.add("/x.jpg", image_bytes())
    ids = [await _make_task(api, key, url) for _ in range(3)]
    foreign = await _make_task(api, other, url)
    headers = {"Authorization": key}
    r = await api.client.post(
        "/api/v1/fetch-many",
        json={"task_ids": [ids[2], str(uuid.uuid4()), ids[0], foreign, ids[1], "junk"]},
        headers=headers,
    )
    assert r.status_code == 200
    assert [t["task_id"] for t in r.json()["tasks"]] == [ids[2], ids[0], ids[1]]
    for bad, msg in [
        ({"task_ids": [ids[0]]}, "task_ids must contain between 2 and 20 ids"),
        ({"task_ids": [ids[0]] * 21}, "task_ids must contain between 2 and 20 ids"),
        ({"task_ids": []}, "task_ids must contain between 2 and 20 ids"),
        ({}, "task_ids is required"),
        ({"task_ids": "abc"}, "task_ids must be an array"),
        ({"task_ids": [1, 2]}, "task_ids[0] must be a string"),
    ]:
        r = await api.client.post("/api/v1/fetch-many", json=bad, headers=headers)
        assert r.status_code == 400, bad
        assert r.json()["errors"][0] == {"msg": msg}


async def test_account_and_models(api: Api) -> None:
    key = await api.account("me@example.com", credits=992, plan="starter")
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    assert r.json() == {
        "email": "me@example.com",
        "credits": 992,
        "total_images": 0,
        "plan": "starter",
    }
    r = await api.client.get("/api/v1/models", headers={"Authorization": key})
    models = {m["id"]: m for m in r.json()["models"]}
    assert models["flux-kontext-max"]["credits"] == 8
    assert models["flux-kontext-pro"]["credits"] == 4
    assert all(m["available"] for m in models.values())
    kontext = [models["flux-kontext-max"], models["flux-kontext-pro"]]
    assert all(m["requires_image"] and m["kind"] == "edit" for m in kontext)
    assert all(m["max_images"] == 1 for m in kontext)
    flux2 = models["flux-2-klein-4b"]
    assert flux2["kinds"] == ["edit", "generate"] and not flux2["requires_image"]
    assert flux2["max_images"] == 4 and flux2["family"] == "flux.2"


async def test_metrics_count_outcomes(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=8)
    url = image_host.add("/x.jpg", image_bytes())
    await api.imagine(key, prompt="blur", image_url=url)
    await api.imagine(key, prompt="blur", image_url=url)
    text = (await api.client.get("/metrics")).text
    assert 'imagine_tasks_total{model="flux-kontext-max",outcome="finished"} 1.0' in text
    assert 'imagine_tasks_total{model="flux-kontext-max",outcome="402"} 1.0' in text
    assert "imagine_tasks_in_flight 0.0" in text
