"""Every Store keeps the same contract: local directory, memory, and obstore backends
(memory://, file://, and S3 through a real S3-compatible server on loopback)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagine.storage.object_store import ObjectStoreBackend
from imagine.storage.store import LocalDirStore, MemoryStore, Store, new_object_name
from tests.conftest import Api
from tests.support import ImageHost, image_bytes


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with bucket `outputs`."""
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    ).create_bucket(Bucket="outputs")
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Standard AWS variables pointing obstore at the loopback S3."""
    for key, value in {
        "AWS_ENDPOINT": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(key, value)
    return "s3://outputs/imagine"


@pytest.fixture(params=["dir", "memory", "obstore-memory", "obstore-file", "obstore-s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    kind = request.param
    if kind == "dir":
        return LocalDirStore(tmp_path / "out")
    if kind == "memory":
        return MemoryStore()
    if kind == "obstore-memory":
        return ObjectStoreBackend("memory:///")
    if kind == "obstore-file":
        return ObjectStoreBackend(f"file://{tmp_path / 'obj'}")
    return ObjectStoreBackend(request.getfixturevalue("s3_env"))


async def test_store_contract(store: Store) -> None:
    name = new_object_name("png")
    assert await store.get(name) is None
    await store.put(name, b"\x89PNG data")
    assert await store.get(name) == b"\x89PNG data"
    await store.put(name, b"replaced")
    assert await store.get(name) == b"replaced"
    listed = [obj async for batch in store.listing() for obj in batch]
    assert [obj.name for obj in listed if obj.name == name] == [name]
    assert all(obj.modified.tzinfo is not None for obj in listed)
    await store.delete(name)
    assert await store.get(name) is None
    await store.delete(name)  # deleting twice is fine


def test_local_store_refuses_path_names(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    for bad in ["../x.png", "a/b.png", "short.png", ".hidden" + "a" * 20 + ".png"]:
        with pytest.raises(ValueError):
            store._path(bad)


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"store_url": request.getfixturevalue("s3_env")}


async def test_outputs_live_in_s3(api: Api, image_host: ImageHost) -> None:
    key = await api.account()
    url = image_host.add("/x.jpg", image_bytes())
    r = await api.imagine(key, prompt="blur", image_url=url)
    assert r.status_code == 200, r.text
    got = await api.client.get(r.json()["image_url"])
    assert got.status_code == 200
    assert got.content.startswith(b"\x89PNG")
    assert not (Path(api.services.settings.resolved_output_dir())).exists()
