"""`imagine gpu serve` as a real child process, for the remote-engine tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support import bound_socket

SRC = Path(__file__).resolve().parents[2] / "src"
TOKEN = "worker-secret-for-tests"


def free_port() -> int:
    """A free loopback port."""
    with bound_socket() as sock:
        return int(sock.getsockname()[1])


@contextmanager
def gpu_worker(
    model: Path, log: Path, *, ray: bool = False, extra: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start `imagine gpu serve [--no-ray]`; yields (worker URL, process) once healthy."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "IMAGINE_DIFFUSERS_MODEL": str(model),
        "IMAGINE_DIFFUSERS_STEPS": "2",
        "IMAGINE_DIFFUSERS_MAX_SEQUENCE_LENGTH": "32",
        "IMAGINE_GPU_WORKER_TOKEN": TOKEN,
        "IMAGINE_GPU_WORKER_HOST": "127.0.0.1",
        "IMAGINE_GPU_WORKER_PORT": str(port),
        "IMAGINE_LOG_FORMAT": "json",
        "HF_HUB_OFFLINE": "1",
        "PYTHONWARNINGS": "ignore",
        **(extra or {}),
    }
    # `imagine gpu serve` itself must turn Ray's usage stats off.
    env.pop("RAY_USAGE_STATS_ENABLED", None)
    command = [sys.executable, "-m", "imagine", "gpu", "serve"]
    if not ray:
        command.append("--no-ray")
    base = f"http://127.0.0.1:{port}" + ("/kontext" if ray else "")
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + (240 if ray else 120)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"gpu worker exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(base + "/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"gpu worker did not start: {log.read_text()[-3000:]}")
        yield base, proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after a grace period."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
