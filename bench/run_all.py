"""Server CPU per request, from the OS, against a bare FastAPI floor in the same run.

Starts, each as its own process on loopback: the imagine server (`python -m imagine serve`,
temporary SQLite database and data dir), a bare FastAPI JSON endpoint (the floor), and a
helper process that hosts the input photo and fakes the BFL API (bench/fake_upstream.py).
For each route it reads the server's utime+stime from /proc/<pid>/stat around a bounded
number of sequential requests, so the figure is the server's CPU per request, whatever the
client costs. Then N edits are held against an upstream that takes S seconds, while a probe
polls /api/v1/account (its latency is the event-loop lag a client sees) and the server's
RSS is sampled.

Prints a table and writes bench/results/run_all.json.
Run: PYTHONPATH=src .venv/bin/python bench/run_all.py [--held 200] [--hold 5] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from imagine import admin
from imagine.clock import SystemClock
from imagine.db.engine import create_engine, session_factory
from imagine.db.migrate import upgrade
from imagine.settings import Settings

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TICK = os.sysconf("SC_CLK_TCK")
PROMPT = "keep the photo exactly as it is"  # the offline engine finds no edit: pass-through


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    """Resident set size, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@contextmanager
def process(cmd: list[str], env: dict[str, str], log: Path, ready: str) -> Iterator[int]:
    """Start `cmd`, wait until GET `ready` answers, yield its pid, stop it afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd} exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(ready, timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd} did not come up: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def create_accounts(settings: Settings, count: int) -> list[str]:
    """`count` growth-plan accounts (25 in flight each) with plenty of credits."""
    engine = create_engine(settings.resolved_database_url())
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        return [
            await admin.create_account(
                sessions,
                SystemClock(),
                email=f"bench{i}@example.com",
                credits=10**9,
                plan="growth",
            )
            for i in range(count)
        ]
    finally:
        await engine.dispose()


def measure(pid: int, call: Callable[[], httpx.Response], n: int, warm: int = 3) -> dict[str, Any]:
    """Server CPU per request (ms) and client-side latency over n sequential calls."""
    for _ in range(warm):
        call().raise_for_status()
    latencies = []
    before = cpu_seconds(pid)
    for _ in range(n):
        started = time.perf_counter()
        response = call()
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    cpu_ms = (cpu_seconds(pid) - before) * 1000 / n
    return {"n": n, "cpu_ms": cpu_ms, "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99)}


async def raw_request(
    port: int, method: str, path: str, key: str, body: bytes = b""
) -> tuple[int, float]:
    """One HTTP/1.1 request on its own loopback connection: (status, seconds).

    A few lines of asyncio streams instead of an HTTP client library: with thousands of
    requests in flight a full client spends about as much CPU as the server it measures,
    on the same cores (httpx: ~18 ms per held edit), and its own loop lag would be counted
    as the server's."""
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return 0, time.perf_counter() - started  # refused: counted as status 0
    try:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        return status, time.perf_counter() - started
    finally:
        writer.close()


def probe_process(port: int, key: str, stop: Any, out: Any) -> None:
    """GET /api/v1/account every 50 ms until `stop` is set; send the latencies (ms) to `out`.
    Runs in its own process, so the probe's figure is the server's lag, not the load
    generator's."""

    async def run() -> list[float]:
        latencies: list[float] = []
        while not stop.is_set():
            status, seconds = await raw_request(port, "GET", "/api/v1/account", key)
            if status == 200:
                latencies.append(seconds * 1000)
            await asyncio.sleep(0.05)
        return latencies

    out.send(asyncio.run(run()))


async def held(
    port: int, pid: int, keys: list[str], probe_key: str, image_url: str, n: int
) -> dict[str, Any]:
    """n concurrent bfl edits against the slow upstream; probe /account meanwhile."""
    body = json.dumps(
        {
            "prompt": "make it red",
            "model": "flux-kontext-max",
            "image_url": image_url,
            "aspect_ratio": "16:9",
            "output_format": "jpeg",
        }
    ).encode()
    stop = multiprocessing.Event()
    receive, send = multiprocessing.Pipe(duplex=False)
    prober = multiprocessing.Process(target=probe_process, args=(port, probe_key, stop, send))
    rss_before = rss_mb(pid)
    cpu_before = cpu_seconds(pid)
    client_before = os.times()
    peak = [rss_before]
    done = asyncio.Event()

    async def sample_rss() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            await asyncio.sleep(0.1)

    prober.start()
    sampler = asyncio.create_task(sample_rss())
    started = time.perf_counter()
    results = await asyncio.gather(
        *(raw_request(port, "POST", "/api/v1/imagine", keys[i // 25], body) for i in range(n))
    )
    wall = time.perf_counter() - started
    done.set()
    await sampler
    cpu = cpu_seconds(pid) - cpu_before
    client_after = os.times()
    stop.set()
    probes: list[float] = receive.recv()
    prober.join()
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    latencies = [lat for status, lat in results if status == 200]
    client_cpu = (client_after.user + client_after.system) - (
        client_before.user + client_before.system
    )
    return {
        "n": n,
        "statuses": statuses,
        "wall_s": wall,
        "p50_s": pct(latencies, 50),
        "p99_s": pct(latencies, 99),
        "rss_before_mb": rss_before,
        "rss_peak_mb": peak[0],
        "rss_after_mb": rss_mb(pid),
        "rss_per_held_kb": (peak[0] - rss_before) * 1024 / n,
        "probe_n": len(probes),
        "probe_p50_ms": pct(probes, 50),
        "probe_p99_ms": pct(probes, 99),
        "cpu_per_edit_ms": cpu * 1000 / n,
        "client_cpu_per_edit_ms": client_cpu * 1000 / n,
    }


def main() -> None:
    """Run everything and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="requests per cheap route")
    parser.add_argument("--edits", type=int, default=20, help="requests per /imagine route")
    parser.add_argument("--held", type=int, default=200, help="edits held at once (0: skip)")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds the upstream takes")
    parser.add_argument("--log-level", default="INFO", help="server IMAGINE_LOG_LEVEL")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "run_all.json")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="imagine-bench-"))
    up_port, port, floor_port = free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(BENCH)]),
        "IMAGINE_DATA_DIR": str(tmp / "data"),
        "IMAGINE_PUBLIC_URL": base,
        "IMAGINE_LOG_LEVEL": args.log_level,
        "IMAGINE_FETCH_ALLOW": "127.0.0.1/32",
        "IMAGINE_BOOTSTRAP_CREDITS": "0",
        "IMAGINE_BFL_API_KEY": "bench-key",
        "IMAGINE_BFL_BASE_URL": upstream,
        "IMAGINE_BFL_DELIVERY_HOSTS": "127.0.0.1",
        "IMAGINE_BFL_MAX_IN_FLIGHT": str(max(args.held, 24) + 8),
        "IMAGINE_BFL_MAX_IN_FLIGHT_KONTEXT_MAX": str(max(args.held, 6) + 8),
        "IMAGINE_ENGINES__FLUX_KONTEXT_MAX": "bfl",
        "IMAGINE_ENGINES__FLUX_KONTEXT_PRO": "offline",
        # A burst of thousands queues for the database instead of getting 503 after the
        # default 10 s / 30 s waits ("limits raised by settings", as the goal allows).
        "IMAGINE_DB_POOL_TIMEOUT": os.environ.get("IMAGINE_DB_POOL_TIMEOUT", "120"),
        "IMAGINE_DB_LOCK_TIMEOUT": os.environ.get("IMAGINE_DB_LOCK_TIMEOUT", "120"),
    }
    held_accounts = math.ceil(args.held / 25)
    os.environ.update({k: v for k, v in env.items() if k.startswith("IMAGINE_")})
    keys = asyncio.run(create_accounts(Settings(), held_accounts + 1))
    probe_key, held_keys = keys[0], keys[1:]
    python = sys.executable
    image_url = f"{upstream}/photo.jpg"

    with (
        process(
            [python, str(BENCH / "fake_upstream.py"), str(up_port)],
            env,
            tmp / "upstream.log",
            image_url,
        ),
        process(
            [python, "-m", "imagine", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env,
            tmp / "server.log",
            f"{base}/api/v1/account",
        ) as pid,
        process(
            [
                python,
                "-m",
                "uvicorn",
                "floor_app:app",
                "--app-dir",
                str(BENCH),
                "--host",
                "127.0.0.1",
                "--port",
                str(floor_port),
                "--log-level",
                "warning",
            ],
            env,
            tmp / "floor.log",
            f"http://127.0.0.1:{floor_port}/ping",
        ) as floor_pid,
        httpx.Client(timeout=120) as http,
    ):
        auth = {"Authorization": probe_key}

        def imagine(model: str, fmt: str = "png") -> httpx.Response:
            return http.post(
                f"{base}/api/v1/imagine",
                headers=auth,
                json={
                    "prompt": PROMPT if model == "flux-kontext-pro" else "make it red",
                    "model": model,
                    "image_url": image_url,
                    "aspect_ratio": "4:3",
                    "output_format": fmt,
                },
            )

        first = imagine("flux-kontext-pro")
        first.raise_for_status()
        task_id = first.json()["task_id"]
        rows: dict[str, dict[str, Any]] = {}
        rows["floor: bare FastAPI GET"] = measure(
            floor_pid, lambda: http.get(f"http://127.0.0.1:{floor_port}/ping"), args.rounds
        )
        rows["GET /api/v1/account"] = measure(
            pid, lambda: http.get(f"{base}/api/v1/account", headers=auth), args.rounds
        )
        rows["POST /api/v1/fetch"] = measure(
            pid,
            lambda: http.post(f"{base}/api/v1/fetch", headers=auth, json={"task_id": task_id}),
            args.rounds,
        )
        rows["POST /imagine offline, 1.2 MP JPEG -> PNG"] = measure(
            pid, lambda: imagine("flux-kontext-pro"), args.edits
        )
        rows["POST /imagine offline, 1.2 MP JPEG -> JPEG"] = measure(
            pid, lambda: imagine("flux-kontext-pro", "jpeg"), args.edits
        )
        rows["POST /imagine bfl (instant fake) -> PNG"] = measure(
            pid, lambda: imagine("flux-kontext-max"), args.edits
        )
        rows["POST /imagine bfl (instant fake) -> JPEG"] = measure(
            pid, lambda: imagine("flux-kontext-max", "jpeg"), args.edits
        )
        held_result = None
        if args.held:
            http.post(f"{upstream}/_delay", params={"s": args.hold}).raise_for_status()
            held_result = asyncio.run(held(port, pid, held_keys, probe_key, image_url, args.held))
            held_result["hold_s"] = args.hold

    floor = rows["floor: bare FastAPI GET"]["cpu_ms"]
    print(
        f"\nserver CPU per request (from /proc; {args.rounds} cheap / {args.edits} edit requests,"
        " sequential; other load on the machine adds noise)"
    )
    print(f"{'route':44s} {'CPU ms':>8s} {'x floor':>8s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for name, row in rows.items():
        row["x_floor"] = row["cpu_ms"] / floor if floor else float("nan")
        print(
            f"{name:44s} {row['cpu_ms']:8.2f} {row['x_floor']:8.1f} {row['p50_ms']:8.1f}"
            f" {row['p99_ms']:8.1f}"
        )
    if held_result:
        h = held_result
        print(
            f"\n{h['n']} edits held against a {h['hold_s']:g} s upstream (bfl engine):"
            f" statuses {h['statuses']}, latency p50 {h['p50_s']:.2f} s p99 {h['p99_s']:.2f} s;"
            f" RSS {h['rss_before_mb']:.0f} -> {h['rss_peak_mb']:.0f} MB peak"
            f" ({h['rss_per_held_kb']:.0f} KB per held edit), {h['rss_after_mb']:.0f} MB after;"
            f" /account probe"
            f" p50 {h['probe_p50_ms']:.1f} ms p99 {h['probe_p99_ms']:.1f} ms"
            f" ({h['probe_n']} probes, own process); server CPU {h['cpu_per_edit_ms']:.1f} ms"
            f" per edit (load client: {h['client_cpu_per_edit_ms']:.1f} ms)"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "args": {k: str(v) for k, v in vars(args).items()},
                "routes": rows,
                "held": held_result,
            },
            indent=2,
        )
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
