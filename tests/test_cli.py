"""The `imagine` command, run as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import bound_socket, create_database

IMAGINE = [sys.executable, "-m", "imagine"]


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINE_")}
    env["IMAGINE_DATA_DIR"] = str(tmp_path / "data")
    env["IMAGINE_DATABASE_URL"] = database_url
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src")
    return env


def _run(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*IMAGINE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_admin_commands(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url)
    create_database(database_url)  # what the first `imagine serve` does
    created = _run(
        env,
        "accounts",
        "create",
        "--email",
        "a@example.com",
        "--credits",
        "50",
        "--plan",
        "starter",
    )
    key = created.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"japi_live_[A-Za-z0-9_-]{32}", key)

    dup = _run(env, "accounts", "create", "--email", "a@example.com", ok=False)
    assert dup.returncode == 1
    assert "already exists" in dup.stderr

    bad_plan = _run(
        env, "accounts", "create", "--email", "b@example.com", "--plan", "gold", ok=False
    )
    assert bad_plan.returncode == 1

    added = _run(env, "credits", "add", "--email", "a@example.com", "25")
    assert "balance 75" in added.stdout
    shown = _run(env, "accounts", "show", "--email", "a@example.com")
    assert "credits:  75" in shown.stdout
    assert "ledger:   75" in shown.stdout
    assert "plan:     starter" in shown.stdout

    too_much = _run(env, "credits", "add", "--email", "a@example.com", "--", "-100", ok=False)
    assert too_much.returncode == 1
    # As documented: a negative amount removes credits, without a `--`.
    removed = _run(env, "credits", "add", "--email", "a@example.com", "-5")
    assert "balance 70" in removed.stdout

    second = _run(env, "keys", "create", "--email", "a@example.com").stdout.strip()
    revoked = _run(env, "keys", "revoke", key[:18])
    assert "revoked 1 key(s)" in revoked.stdout
    again = _run(env, "keys", "revoke", key[:18], ok=False)
    assert again.returncode == 1
    assert second.startswith("japi_live_")
    swept = _run(env, "sweep")
    assert "deleted 0 expired output(s) and 0 orphaned object(s)" in swept.stdout


@pytest.mark.slow
def test_serve_hands_over_a_key_once_and_serves(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url)
    for attempt in range(2):
        sock = bound_socket()
        port = sock.getsockname()[1]
        sock.close()
        proc = subprocess.Popen(
            [*IMAGINE, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            lines: list[str] = []
            assert proc.stdout is not None
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if "imagine listening on" in line:
                    break
            text = "".join(lines)
            # stdout is a pipe, not a terminal: the key never enters the output stream; it
            # is handed over in a file only its owner can read.
            assert re.findall(r"japi_live_", text) == [], text
            key_file = tmp_path / "data" / "bootstrap-key.txt"
            if attempt == 0:
                assert "bootstrap-key.txt" in text, text
                assert key_file.stat().st_mode & 0o777 == 0o600
                key = key_file.read_text().strip()
                assert re.fullmatch(r"japi_live_[A-Za-z0-9_-]{32}", key)
                key_file.unlink()
            else:
                assert not key_file.exists(), "the key must be handed over only on first start"
            for _ in range(100):
                try:
                    r = httpx.get(
                        f"http://127.0.0.1:{port}/api/v1/account",
                        headers={"Authorization": key},
                        timeout=5,
                    )
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert r.status_code == 200
            assert r.json()["credits"] == 1000
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            if proc.stdout is not None:
                proc.stdout.close()
