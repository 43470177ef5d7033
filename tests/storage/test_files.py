"""Output files: served with cache headers, 410 after expiry, bytes swept (fake clock)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from imagine.storage.sweeper import sweep_expired
from imagine.tasks.settle import recover_orphans
from tests.conftest import Api
from tests.support import ImageHost, image_bytes


async def test_expiry_answers_410_and_sweeper_deletes_bytes(
    api: Api, image_host: ImageHost
) -> None:
    key = await api.account()
    url = image_host.add("/x.jpg", image_bytes())
    r = await api.imagine(key, prompt="blur", image_url=url)
    image_url = r.json()["image_url"]
    name = image_url.rsplit("/", 1)[1]
    path = Path(api.services.settings.resolved_output_dir()) / name
    assert path.exists()
    first = await api.client.get(image_url)
    assert first.status_code == 200
    assert "max-age=1209600" in first.headers["cache-control"]

    api.clock.advance(timedelta(days=13, hours=23))
    assert (await api.client.get(image_url)).status_code == 200
    assert await sweep_expired(api.sessions, api.services.store, api.clock) == 0
    assert path.exists()

    api.clock.advance(timedelta(hours=2))
    gone = await api.client.get(image_url)
    assert gone.status_code == 410
    assert gone.json() == {"errors": [{"msg": "File expired"}]}
    assert await sweep_expired(api.sessions, api.services.store, api.clock) == 1
    assert not path.exists()
    assert (await api.client.get(image_url)).status_code == 410
    # /fetch still describes the task; its URL now answers 410.
    task = await api.client.post(
        "/api/v1/fetch", json={"task_id": r.json()["task_id"]}, headers={"Authorization": key}
    )
    assert task.json()["status"] == "finished"


async def test_unknown_and_malformed_file_names(api: Api) -> None:
    for name in ["nope.png", "..%2F..%2Fetc%2Fpasswd", "a" * 40 + ".png", "x.txt"]:
        r = await api.client.get(f"/files/{name}")
        assert r.status_code == 404, name
        assert r.json()["errors"][0]["msg"] in ("File not found", "Not found")


async def test_orphaned_reservation_is_released(api: Api) -> None:
    """A task left running by a crash is failed and refunded after the reservation timeout."""
    from imagine.accounts import repository as accounts_repo
    from imagine.tasks import repository as tasks_repo
    from imagine.tasks.repository import NewTask

    key = await api.account(credits=8)
    async with api.sessions.begin() as session:
        account = await accounts_repo.account_by_email(session, "dev@example.com")
        assert account is not None
        task = await tasks_repo.insert_task(
            session,
            NewTask(account.id, "flux-kontext-max", "blur", "1:1", "png", None, None, None, 8),
            now=api.clock.now(),
        )
        assert await accounts_repo.reserve(
            session, account.id, 8, task_id=task.id, now=api.clock.now()
        )
    headers = {"Authorization": key}
    assert (await api.client.get("/api/v1/account", headers=headers)).json()["credits"] == 0
    assert await recover_orphans(api.sessions, api.clock, timedelta(minutes=15)) == 0
    api.clock.advance(timedelta(minutes=16))
    assert await recover_orphans(api.sessions, api.clock, timedelta(minutes=15)) == 1
    assert (await api.client.get("/api/v1/account", headers=headers)).json()["credits"] == 8
    fetched = await api.client.post("/api/v1/fetch", json={"task_id": task.id}, headers=headers)
    assert fetched.json()["status"] == "failed"
    assert fetched.json()["error"] == "Task interrupted"
