"""The hosted providers' state for operators (GET /providers, `imagine providers`): key set,
reachable, BFL's credits from its GET /v1/credits, cached, behind the metrics token, and
never asked while serving an edit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api
from tests.engines.fake_bfl import bfl_app
from tests.engines.fakes import SECRET, Answer, FakeServer
from tests.support import bound_socket

TOKEN = "ops-token-123"


@pytest.fixture(scope="module")
def fake_bfl() -> Iterator[FakeServer]:
    with FakeServer(bfl_app) as running:
        yield running


@pytest.fixture
def settings_overrides(fake_bfl: FakeServer) -> dict[str, Any]:
    fake_bfl.reset()
    return {
        "bfl_api_key": SECRET,
        "bfl_base_url": fake_bfl.base_url,
        "replicate_api_token": "r8_" + SECRET,
        "metrics_token": TOKEN,
        "allow_offline_fallback": False,
    }


async def _providers(api: Api, token: str = TOKEN) -> Any:
    return await api.client.get("/providers", headers={"Authorization": f"Bearer {token}"})


def _credit_checks(fake: FakeServer) -> int:
    return fake.state.requests.count(("GET", "/v1/credits"))


async def test_each_provider_is_reported_with_bfls_balance(api: Api, fake_bfl: FakeServer) -> None:
    r = await _providers(api)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "ready": True,
        "providers": [
            {"name": "bfl", "configured": True, "reachable": True, "balance": 250.0, "note": ""},
            {
                "name": "fal",
                "configured": False,
                "reachable": None,
                "balance": None,
                "note": "no key set",
            },
            {
                "name": "replicate",
                "configured": True,
                "reachable": None,
                "balance": None,
                "note": "no balance endpoint: not asked (key set)",
            },
        ],
    }
    assert fake_bfl.state.auth[-1] == SECRET
    assert SECRET not in r.text


async def test_answers_are_cached_briefly(api: Api, fake_bfl: FakeServer) -> None:
    await _providers(api)
    fake_bfl.state.credits = 12.5
    assert (await _providers(api)).json()["providers"][0]["balance"] == 250.0
    assert _credit_checks(fake_bfl) == 1
    api.clock.advance(timedelta(seconds=31))
    assert (await _providers(api)).json()["providers"][0]["balance"] == 12.5
    assert _credit_checks(fake_bfl) == 2


@pytest.mark.parametrize(
    ("credits", "reachable", "balance", "note"),
    [
        (0, True, 0.0, "no balance left: its models fail over or answer 503"),
        (Answer(403, {"detail": "Forbidden"}), True, None, "key rejected"),
        (Answer(500, "oops"), True, None, "balance not available (500)"),
        (Answer(200, {"balance": 3}), True, None, "balance answer malformed"),
    ],
)
async def test_a_poor_or_refusing_provider_is_reported_never_a_failure(
    api: Api, fake_bfl: FakeServer, credits: Any, reachable: bool, balance: Any, note: str
) -> None:
    fake_bfl.state.credits = credits
    r = await _providers(api)
    assert r.status_code == 200 and r.json()["ready"] is True
    bfl = r.json()["providers"][0]
    assert (bfl["reachable"], bfl["balance"], bfl["note"]) == (reachable, balance, note)


def _dead_url() -> str:
    closed = bound_socket()  # a loopback port nobody answers on
    url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    return url


@pytest.mark.parametrize(
    "settings_overrides",
    [{"bfl_api_key": SECRET, "bfl_base_url": _dead_url(), "metrics_token": TOKEN}],
    indirect=False,
)
async def test_an_unreachable_provider_is_reported(api: Api) -> None:
    r = await _providers(api)
    assert r.status_code == 200 and r.json()["ready"] is True
    bfl = r.json()["providers"][0]
    assert (bfl["configured"], bfl["reachable"], bfl["balance"]) == (True, False, None)
    assert bfl["note"].startswith("unreachable (")


@pytest.mark.parametrize("settings_overrides", [{"bfl_api_key": SECRET}], indirect=False)
async def test_without_a_metrics_token_the_route_does_not_exist(api: Api) -> None:
    assert (await _providers(api)).status_code == 404
    assert (await api.client.get("/providers")).status_code == 404


async def test_the_route_wants_the_metrics_token(api: Api) -> None:
    assert (await api.client.get("/providers")).status_code == 401
    assert (await _providers(api, "wrong")).status_code == 401


async def test_an_edit_never_asks_for_the_balance(api: Api, fake_bfl: FakeServer) -> None:
    key = await api.account(credits=100)
    r = await api.imagine(key, prompt="a red bicycle", model="flux-2-pro")
    assert r.status_code == 200, r.text
    assert _credit_checks(fake_bfl) == 0


def test_the_cli_prints_each_provider(tmp_path: Path, fake_bfl: FakeServer) -> None:
    fake_bfl.reset()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINE_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"),
        IMAGINE_DATA_DIR=str(tmp_path / "data"),
        IMAGINE_FETCH_ALLOW="127.0.0.1/32",
        IMAGINE_BFL_API_KEY=SECRET,
        IMAGINE_BFL_BASE_URL=fake_bfl.base_url,
        IMAGINE_LOG_LEVEL="WARNING",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "imagine", "providers"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["bfl", "key", "set", "reachable", "yes", "balance", "250"]
    assert lines[1].split()[:7] == ["fal", "key", "not", "set", "reachable", "-", "balance"]
    assert SECRET not in proc.stdout + proc.stderr
    assert fake_bfl.state.requests == [("GET", "/v1/credits")]
