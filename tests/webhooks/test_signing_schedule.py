"""Signatures match the Standard Webhooks reference library; the schedule backs off and caps."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from imagine.webhooks.schedule import DEFAULT_SCHEDULE, next_delay, parse_retry_after
from imagine.webhooks.signing import new_signing_secret, secret_key, sign, signature_header


class Fixed:
    """A random source that always says the same thing."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_secret_format() -> None:
    secret = new_signing_secret()
    assert secret.startswith("whsec_")
    assert len(secret_key(secret)) >= 24
    assert new_signing_secret() != secret


def test_signature_verifies_with_standardwebhooks() -> None:
    secret = new_signing_secret()
    body = b'{"task_id":"t","status":"finished"}'
    now = int(datetime.now(UTC).timestamp())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": signature_header([secret], "msg_1", now, body),
    }
    assert Webhook(secret).verify(body, headers) == {"task_id": "t", "status": "finished"}
    ref = Webhook(secret).sign("msg_1", datetime.fromtimestamp(now, UTC), body.decode())
    assert sign(secret, "msg_1", now, body) == ref
    with pytest.raises(WebhookVerificationError):
        Webhook(new_signing_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


def test_two_secrets_both_verify() -> None:
    old, new = new_signing_secret(), new_signing_secret()
    body = b"{}"
    now = int(datetime.now(UTC).timestamp())
    value = signature_header([new, old], "msg_2", now, body)
    assert len(value.split(" ")) == 2
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(now), "webhook-signature": value}
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)


def test_schedule_backs_off_with_bounded_jitter_and_gives_up() -> None:
    exact = [next_delay(n, DEFAULT_SCHEDULE, Fixed(0.5)) for n in range(1, 8)]
    assert exact == [timedelta(seconds=s) for s in DEFAULT_SCHEDULE]
    assert next_delay(8, DEFAULT_SCHEDULE, Fixed(0.5)) is None
    assert next_delay(1, DEFAULT_SCHEDULE, Fixed(0.0)) == timedelta(seconds=4)
    almost_max = next_delay(1, DEFAULT_SCHEDULE, Fixed(0.999999))
    assert almost_max is not None and almost_max < timedelta(seconds=6)
    rng = random.Random(7)
    for n, base in enumerate(DEFAULT_SCHEDULE, start=1):
        for _ in range(50):
            delay = next_delay(n, DEFAULT_SCHEDULE, rng)
            assert delay is not None
            assert base * 0.8 <= delay.total_seconds() <= base * 1.2
    with pytest.raises(ValueError):
        next_delay(0, DEFAULT_SCHEDULE, rng)


def test_retry_after_only_ever_lengthens_and_is_capped() -> None:
    half = Fixed(0.5)
    assert next_delay(1, DEFAULT_SCHEDULE, half, timedelta(seconds=60)) == timedelta(seconds=60)
    assert next_delay(2, DEFAULT_SCHEDULE, half, timedelta(seconds=1)) == timedelta(seconds=300)
    assert next_delay(1, DEFAULT_SCHEDULE, half, timedelta(days=30)) == timedelta(hours=24)
    assert next_delay(8, DEFAULT_SCHEDULE, half, timedelta(seconds=1)) is None


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == timedelta(seconds=120)
    assert parse_retry_after("Thu, 01 Jan 2026 12:10:00 GMT", now) == timedelta(minutes=10)
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == timedelta(0)
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-5", now) is None
