"""The serving process settles its heap once started (gc.freeze, fewer young collections)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from imagine.services import build_services
from imagine.settings import Settings

from .support import bound_socket, live_server


def test_settle_heap_freezes_what_exists_and_collects_young_objects_less_often() -> None:
    # In a process of its own: frozen objects are never collected again.
    script = (
        "import gc\n"
        "from imagine.heap import YOUNG_THRESHOLD, settle_heap\n"
        "assert gc.get_freeze_count() == 0\n"
        "settle_heap()\n"
        "assert gc.get_freeze_count() > 1_000, gc.get_freeze_count()\n"
        "assert gc.get_threshold()[0] == YOUNG_THRESHOLD > 700\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()


def test_the_started_hook_runs_once_start_up_is_complete(tmp_path: Path) -> None:
    sock = bound_socket()
    port = sock.getsockname()[1]
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        public_url=f"http://127.0.0.1:{port}",
        log_level="WARNING",
    )
    calls: list[str] = []
    with live_server(build_services(settings), sock, on_started=lambda: calls.append("x")) as url:
        assert calls == ["x"]  # before the server answered anything
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
    assert calls == ["x"]
