"""`imagine gpu serve` as a real child process, for the remote-engine and Ray tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import bound_socket

SRC = Path(__file__).resolve().parents[2] / "src"
TOKEN = "worker-secret-for-tests"
SLOW_STEPS = 200  # the slow worker's steps: an edit far longer than any test waits


def free_port() -> int:
    """A free loopback port."""
    with bound_socket() as sock:
        return int(sock.getsockname()[1])


@dataclass
class Worker:
    """A started `imagine gpu serve` process."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    ray: bool
    env: dict[str, str]


def start_worker(
    model: Path, log: Path, *, ray: bool = False, extra: dict[str, str] | None = None
) -> Worker:
    """Start `imagine gpu serve [--no-ray]` without waiting for it (see `wait_healthy`)."""
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
    return Worker(base, proc, log, ray, env)


def wait_healthy(worker: Worker) -> None:
    """Block until the worker answers its health route (RuntimeError if it never does)."""
    deadline = time.monotonic() + (240 if worker.ray else 120)
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"gpu worker exited: {worker.log.read_text()[-3000:]}")
        try:
            if httpx.get(worker.url + "/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gpu worker did not start: {worker.log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after a grace period."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
