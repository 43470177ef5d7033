"""`imagine gpu serve`: the worker app as a Ray Serve application, one replica per GPU.

Each replica loads the pipeline once (`num_gpus` per replica from settings, 1 on a GPU
box) and serves `POST <route>/v1/edit`; Ray Serve autoscales the replicas between the
configured bounds and keeps `max_ongoing_requests` small, since a replica runs one
generation at a time. The HTTP route binds IMAGINE_GPU_WORKER_HOST (loopback by default);
usage stats stay off.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import structlog

from imagine.settings import Settings

log = structlog.get_logger(__name__)

APP_NAME = "imagine-kontext"
ROUTE = "/kontext"


class KontextReplica:
    """One Ray Serve replica: a loaded engine and the worker app around it."""

    def __init__(self, settings: Settings) -> None:
        from imagine.gpu.build import build_diffusers_engine

        self.settings = settings
        self.engine = build_diffusers_engine(settings)

    def __serve_build_asgi_app__(self) -> Any:
        """The ASGI app Ray Serve runs for this replica."""
        from imagine.gpu.worker import create_worker_app

        assert self.settings.gpu_worker_token is not None
        return create_worker_app(self.engine, self.settings.gpu_worker_token)


def deployment(settings: Settings) -> Any:
    """The Ray Serve application (bound deployment) for `settings`."""
    from ray import serve

    ingress = serve.ingress()(KontextReplica)
    wrapped = serve.deployment(
        name="kontext",
        ray_actor_options={"num_gpus": settings.gpu_num_gpus, "num_cpus": 1},
        max_ongoing_requests=settings.gpu_max_ongoing_requests,
        autoscaling_config={
            "min_replicas": settings.gpu_min_replicas,
            "max_replicas": settings.gpu_max_replicas,
            "initial_replicas": max(1, settings.gpu_min_replicas),
            "target_ongoing_requests": 1,
        },
    )(ingress)
    return wrapped.bind(settings)


def run_ray_serve(settings: Settings) -> None:
    """Start (or join) Ray, run the application, block until SIGINT/SIGTERM."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray import serve

    init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
    if settings.ray_address:
        init["address"] = settings.ray_address
    else:
        # Note: Ray's own gRPC ports follow its node IP (ray.init turns 127.0.0.1 into the
        # host's address); only the Serve HTTP route obeys IMAGINE_GPU_WORKER_HOST.
        if settings.ray_num_cpus is not None:
            init["num_cpus"] = settings.ray_num_cpus
        if settings.ray_temp_dir is not None:
            init["_temp_dir"] = str(settings.ray_temp_dir)
    ray.init(**init)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(
            http_options={"host": settings.gpu_worker_host, "port": settings.gpu_worker_port}
        )
        serve.run(deployment(settings), name=APP_NAME, route_prefix=ROUTE, blocking=False)
        log.info(
            "GPU worker listening (Ray Serve)",
            url=f"http://{settings.gpu_worker_host}:{settings.gpu_worker_port}{ROUTE}",
            replicas=[settings.gpu_min_replicas, settings.gpu_max_replicas],
        )
        print(
            f"ready http://{settings.gpu_worker_host}:{settings.gpu_worker_port}{ROUTE}",
            flush=True,
        )
        stop.wait()
    finally:
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()
