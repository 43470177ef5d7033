"""The key → account cache: repeated calls skip the lookup; a revoked key stops working
within IMAGINE_AUTH_CACHE_TTL (by the injected clock), and at once with the cache off."""

from __future__ import annotations

from datetime import timedelta

import pytest

from imagine import admin
from tests.conftest import Api


@pytest.mark.parametrize("settings_overrides", [{"auth_cache_ttl": 5.0}])
async def test_a_revoked_key_works_until_the_cache_entry_expires(api: Api) -> None:
    key = await api.account()
    headers = {"Authorization": key}
    assert (await api.client.get("/api/v1/account", headers=headers)).status_code == 200
    assert (await admin.revoke_key(api.sessions, api.clock, selector=key[:20])).prefix == key[:18]
    # Within the bound the cached entry still answers…
    api.clock.advance(timedelta(seconds=4))
    assert (await api.client.get("/api/v1/account", headers=headers)).status_code == 200
    # …and past it the revocation holds.
    api.clock.advance(timedelta(seconds=2))
    r = await api.client.get("/api/v1/account", headers=headers)
    assert (r.status_code, r.json()) == (401, {})


@pytest.mark.parametrize("settings_overrides", [{"auth_cache_ttl": 0}])
async def test_without_the_cache_revocation_is_immediate(api: Api) -> None:
    key = await api.account()
    headers = {"Authorization": key}
    assert (await api.client.get("/api/v1/account", headers=headers)).status_code == 200
    assert (await admin.revoke_key(api.sessions, api.clock, selector=key[:20])).prefix == key[:18]
    assert (await api.client.get("/api/v1/account", headers=headers)).status_code == 401


async def test_unknown_keys_are_not_cached(api: Api) -> None:
    # A key unknown at first and valid later (created meanwhile) is never stuck on 401.
    r = await api.client.get("/api/v1/account", headers={"Authorization": "japi_live_x"})
    assert r.status_code == 401
    key = await api.account()
    assert (
        await api.client.get("/api/v1/account", headers={"Authorization": key})
    ).status_code == 200
