"""Retries happen only where they are safe, always with the same Idempotency-Key.

Against a scripted loopback server: the real one cannot answer 429-then-200 on cue."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from imagine.client import (
    AsyncImagine,
    AuthenticationError,
    ConflictError,
    Imagine,
    ImagineAPIError,
    ImagineConnectionError,
    ImagineTimeoutError,
    RateLimitError,
    ServerError,
    TaskFailedError,
)
from imagine.client.flows import retry_after_seconds
from tests.client.fake_api import FakeApi
from tests.support import bound_socket, image_bytes

FINISHED = {
    "task_id": "t-1",
    "status": "finished",
    "image_url": "http://127.0.0.1:9/files/x.png",
    "credits_used": 8,
    "warnings": [],
    "engine": "offline",
}
IMAGE_URL = "https://images.example/car.jpg"


def test_429_with_retry_after_is_retried_with_the_same_idempotency_key(
    fake_api: FakeApi,
) -> None:
    fake_api.answer(
        "/api/v1/imagine", 429, {"errors": [{"msg": "Rate limit exceeded"}]}, retry_after="1"
    )
    fake_api.answer("/api/v1/imagine", 200, FINISHED)
    with Imagine(fake_api.url, "japi_live_k") as client:
        started = time.monotonic()
        result = client.edit(IMAGE_URL, "make it brighter", model="flux-kontext-pro")
        waited = time.monotonic() - started
    assert result.task_id == "t-1"
    assert result.credits_used == 8
    assert result.model == "flux-kontext-pro"
    sent = fake_api.requests_to("/api/v1/imagine")
    assert len(sent) == 2
    keys = {s.headers["idempotency-key"] for s in sent}
    assert len(keys) == 1 and keys == {result.idempotency_key}
    assert {s.headers["authorization"] for s in sent} == {"japi_live_k"}
    assert (
        sent[0].json()
        == sent[1].json()
        == {
            "prompt": "make it brighter",
            "image_url": IMAGE_URL,
            "model": "flux-kontext-pro",
        }
    )
    assert waited >= 1.0  # Retry-After was honoured


def test_the_callers_idempotency_key_is_sent(fake_api: FakeApi) -> None:
    fake_api.answer("/api/v1/imagine", 503, {"errors": [{"msg": "busy"}]}, retry_after="0")
    fake_api.answer("/api/v1/imagine", 200, FINISHED, idempotent_replayed="true")
    with Imagine(fake_api.url, "k") as client:
        result = client.edit(IMAGE_URL, "x", idempotency_key="order-42")
    assert result.replayed is True
    assert [s.headers["idempotency-key"] for s in fake_api.seen] == ["order-42", "order-42"]


@pytest.mark.parametrize(
    ("status", "headers", "error"),
    [
        (429, {}, RateLimitError),  # no Retry-After: the caller decides
        (503, {}, ServerError),
        (502, {"retry_after": "0"}, ServerError),  # the task failed; a retry is a new edit
        (409, {}, ConflictError),
        (401, {}, AuthenticationError),
        (429, {"retry_after": "60"}, RateLimitError),  # too long to wait inside a call
        (503, {"retry_after": "0", "idempotent_replayed": "true"}, ServerError),
    ],
)
def test_unsafe_answers_are_not_retried(
    fake_api: FakeApi, status: int, headers: dict[str, str], error: type[Exception]
) -> None:
    body = {} if status == 401 else {"errors": [{"msg": "no"}], "task_id": "t-9"}
    fake_api.answer("/api/v1/imagine", status, body, **headers)
    fake_api.answer("/api/v1/imagine", 200, FINISHED)
    with Imagine(fake_api.url, "k") as client, pytest.raises(error) as raised:
        client.edit(IMAGE_URL, "x")
    assert len(fake_api.requests_to("/api/v1/imagine")) == 1
    assert raised.value.status == status  # type: ignore[attr-defined]
    if status == 401:
        assert raised.value.messages == ["Invalid or missing API key"]  # type: ignore[attr-defined]
    else:
        assert raised.value.task_id == "t-9"  # type: ignore[attr-defined]


def test_409_in_flight_with_retry_after_waits_for_the_first_outcome(fake_api: FakeApi) -> None:
    fake_api.answer(
        "/api/v1/imagine", 409, {"errors": [{"msg": "still in progress"}]}, retry_after="0"
    )
    fake_api.answer("/api/v1/imagine", 200, FINISHED, idempotent_replayed="true")
    with Imagine(fake_api.url, "k") as client:
        result = client.edit(IMAGE_URL, "x", idempotency_key="same")
    assert result.replayed
    assert [s.headers["idempotency-key"] for s in fake_api.seen] == ["same", "same"]


def test_retries_stop_after_max_retries(fake_api: FakeApi) -> None:
    for _ in range(3):
        fake_api.answer(
            "/api/v1/imagine", 429, {"errors": [{"msg": "Rate limit exceeded"}]}, retry_after="0"
        )
    with Imagine(fake_api.url, "k", max_retries=2) as client, pytest.raises(RateLimitError) as e:
        client.edit(IMAGE_URL, "x")
    assert e.value.messages == ["Rate limit exceeded"]
    assert e.value.retry_after == 0
    assert len(fake_api.requests_to("/api/v1/imagine")) == 3


def test_a_read_timeout_on_an_edit_is_not_retried(fake_api: FakeApi) -> None:
    # The server may have the edit in hand: sending it again could charge twice on a server
    # without Idempotency-Key support. It surfaces as a timeout.
    fake_api.answer("/api/v1/imagine", 200, FINISHED, delay=2.0)
    fake_api.answer("/api/v1/imagine", 200, FINISHED)
    with Imagine(fake_api.url, "k", timeout=0.3) as client, pytest.raises(ImagineTimeoutError) as e:
        client.edit(IMAGE_URL, "x")
    assert len(fake_api.requests_to("/api/v1/imagine")) == 1
    sent_key = fake_api.requests_to("/api/v1/imagine")[0].headers["idempotency-key"]
    assert e.value.idempotency_key == sent_key
    assert f"idempotency_key={sent_key!r}" in str(e.value)


def test_free_reads_are_retried_after_a_timeout(fake_api: FakeApi) -> None:
    fake_api.answer("/api/v1/account", 200, {}, delay=2.0)
    fake_api.answer(
        "/api/v1/account", 200, {"email": "a@b.c", "credits": 5, "total_images": 0, "plan": "basic"}
    )
    with Imagine(fake_api.url, "k", timeout=0.3) as client:
        assert client.account().credits == 5
    assert len(fake_api.requests_to("/api/v1/account")) == 2


def test_refused_connections_are_retried_then_raised() -> None:
    sock = bound_socket()  # bound, never listening: connections are refused
    host, port = sock.getsockname()[:2]
    try:
        with (
            Imagine(f"http://{host}:{port}", "k", max_retries=1) as client,
            pytest.raises(ImagineConnectionError) as raised,
        ):
            client.edit(IMAGE_URL, "x")
    finally:
        sock.close()
    assert not isinstance(raised.value, ImagineTimeoutError)
    assert "edit" in str(raised.value)


def test_async_mode_polls_with_progress_and_a_failed_task_raises(fake_api: FakeApi) -> None:
    fake_api.answer("/api/v1/imagine", 202, {"task_id": "t-2", "status": "pending"})
    for status, pct in [
        ("pending", "0"),
        ("processing", "40"),
        ("processing", "40"),
        ("failed", "0"),
    ]:
        fake_api.answer(
            "/api/v1/fetch",
            200,
            {
                "task_id": "t-2",
                "task_type": "edit",
                "model": "flux-kontext-max",
                "status": status,
                "percentage": pct,
                "image_url": None,
                "error": "Upstream failure" if status == "failed" else None,
            },
        )
    seen: list[tuple[str, int | None]] = []
    with Imagine(fake_api.url, "k") as client, pytest.raises(TaskFailedError) as raised:
        client.edit(IMAGE_URL, "x", on_progress=lambda p: seen.append((p.stage, p.percentage)))
    assert raised.value.task_id == "t-2"
    assert raised.value.messages == ["Upstream failure"]
    assert fake_api.requests_to("/api/v1/imagine")[0].headers["prefer"] == "respond-async"
    assert seen == [("submit", None), ("pending", 0), ("processing", 40), ("failed", 0)]


def test_wait_gives_up_after_its_timeout(fake_api: FakeApi) -> None:
    for _ in range(20):
        fake_api.answer(
            "/api/v1/fetch", 200, {"task_id": "t-3", "status": "processing", "percentage": "10"}
        )
    with Imagine(fake_api.url, "k") as client, pytest.raises(ImagineTimeoutError) as raised:
        client.wait("t-3", timeout=0.5)
    assert raised.value.task_id == "t-3"


def test_wait_false_on_a_server_without_async_mode_returns_the_finished_task(
    fake_api: FakeApi,
) -> None:
    fake_api.answer("/api/v1/imagine", 200, FINISHED)  # Prefer ignored: answered at once
    with Imagine(fake_api.url, "k") as client:
        task = client.edit(IMAGE_URL, "x", wait=False)
    assert task.status == "finished"
    assert task.percentage == 100
    assert task.image_url == FINISHED["image_url"]


async def test_async_client_retries_the_same_way(fake_api: FakeApi) -> None:
    fake_api.answer(
        "/api/v1/imagine", 429, {"errors": [{"msg": "Rate limit exceeded"}]}, retry_after="0"
    )
    fake_api.answer("/api/v1/imagine", 200, FINISHED)
    async with AsyncImagine(fake_api.url, "k") as client:
        result = await client.edit(IMAGE_URL, "x")
    assert result.task_id == "t-1"
    sent = fake_api.requests_to("/api/v1/imagine")
    assert len(sent) == 2
    assert sent[0].headers["idempotency-key"] == sent[1].headers["idempotency-key"]


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    response = httpx.Response(429, headers={"retry-after": later})
    assert retry_after_seconds(response, now) == 30.0
    assert retry_after_seconds(httpx.Response(429, headers={"retry-after": "soon"})) is None
    assert retry_after_seconds(httpx.Response(429)) is None


def test_constructor_refuses_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="base_url"):
        Imagine("127.0.0.1:8000", "k")
    with pytest.raises(ValueError, match="api_key"):
        Imagine("http://127.0.0.1:8000", "")


def test_local_images_are_uploaded_as_multipart_file(fake_api: FakeApi, tmp_path: Path) -> None:
    upload = {
        "upload_id": "u-1",
        "image_url": f"{fake_api.url}/api/v1/uploads/u-1",
        "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "width": 64,
        "height": 48,
        "content_type": "image/png",
        "bytes": 10,
    }
    fake_api.answer("/api/v1/uploads", 201, upload)
    fake_api.answer("/api/v1/imagine", 200, FINISHED)
    photo = tmp_path / "holiday photo.png"
    photo.write_bytes(image_bytes((64, 48), "PNG"))
    fake_api.answer("/api/v1/imagine", 200, FINISHED)
    with Imagine(fake_api.url, "k") as client:
        client.edit(photo, "x")
        client.edit(photo.read_bytes(), "y")  # the same bytes: the live upload is reused
    assert len(fake_api.requests_to("/api/v1/uploads")) == 1
    sent = fake_api.requests_to("/api/v1/uploads")[0]
    assert sent.headers["authorization"] == "k"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="holiday photo.png"' in sent.body
    assert b"Content-Type: image/png" in sent.body
    assert photo.read_bytes() in sent.body
    edits = fake_api.requests_to("/api/v1/imagine")
    assert [e.json()["image_url"] for e in edits] == [upload["image_url"]] * 2


def test_a_server_without_uploads_gets_data_uris(fake_api: FakeApi) -> None:
    fake_api.answer("/api/v1/uploads", 404, {"errors": [{"msg": "Not Found"}]})
    fake_api.answer("/api/v1/imagine", 200, FINISHED)
    fake_api.answer("/api/v1/imagine", 200, FINISHED)
    jpeg = image_bytes((32, 32))
    with Imagine(fake_api.url, "k") as client:
        client.edit(jpeg, "x")
        client.edit(jpeg, "y")  # known by now: no second upload attempt
    assert len(fake_api.requests_to("/api/v1/uploads")) == 1
    uris = [s.json()["image_url"] for s in fake_api.requests_to("/api/v1/imagine")]
    expected = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    assert uris == [expected, expected]


def test_other_upload_errors_are_raised(fake_api: FakeApi) -> None:
    fake_api.answer("/api/v1/uploads", 415, {"errors": [{"msg": "body must be an image"}]})
    with Imagine(fake_api.url, "k") as client, pytest.raises(ImagineAPIError) as raised:
        client.edit(b"not an image", "x")
    assert raised.value.status == 415
    assert fake_api.requests_to("/api/v1/imagine") == []
