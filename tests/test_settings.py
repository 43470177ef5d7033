"""Duration settings take plain seconds (as the README says) and ISO 8601 alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from imagine.settings import Settings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3600", timedelta(hours=1)),
        (" 90.5 ", timedelta(seconds=90.5)),
        ("P14D", timedelta(days=14)),
        ("PT15M", timedelta(minutes=15)),
    ],
)
@pytest.mark.parametrize(
    "name", ["IMAGINE_OUTPUT_TTL", "IMAGINE_RESERVATION_TIMEOUT", "IMAGINE_WEBHOOK_RETENTION"]
)
def test_durations_accept_seconds_and_iso8601(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str, expected: timedelta
) -> None:
    monkeypatch.setenv(name, raw)
    field = name.removeprefix("IMAGINE_").lower()
    assert getattr(Settings(), field) == expected


def test_a_malformed_duration_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGINE_OUTPUT_TTL", "two weeks")
    with pytest.raises(ValidationError, match="output_ttl"):
        Settings()
