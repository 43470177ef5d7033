"""`imagine gpu serve`: the worker app as a Ray Serve application, one replica per GPU.

Each replica loads the pipeline once (`num_gpus` per replica from settings, 1 on a GPU
box) and serves `POST <route>/v1/edit`; Ray Serve autoscales the replicas between the
configured bounds and keeps `max_ongoing_requests` small, since a replica runs one
generation at a time. The HTTP route binds IMAGINE_GPU_WORKER_HOST (loopback by default).
A Ray started here is single-node and binds loopback only (`local_ray_options`); joining a
multi-node cluster is the explicit IMAGINE_RAY_ADDRESS. Usage stats stay off.
"""

from __future__ import annotations

import ipaddress
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

        # Runs before Serve starts this replica's own gRPC server (after __init__).
        bind_replica_grpc_to_loopback()
        self.settings = settings
        self.engine = build_diffusers_engine(settings)

    def __serve_build_asgi_app__(self) -> Any:
        """The ASGI app Ray Serve runs for this replica."""
        from imagine.gpu.worker import create_worker_app

        assert self.settings.gpu_worker_token is not None
        return create_worker_app(self.engine, self.settings.gpu_worker_token)


REPLICA_GRPC_ANY = "[::]:0"


def bind_replica_grpc_to_loopback() -> bool:
    """On a loopback-only node, bind this replica's inter-deployment gRPC server to
    127.0.0.1; True when done.

    Ray Serve 2.60 starts that server (the proxy → replica path) on a hard-coded `[::]:0`,
    whatever the node IP, with no setting to change it (ray-project/ray#64544), while its
    callers dial `<node IP>:<port>`. So on a node whose IP is loopback the bind is narrowed
    where Serve makes it, in this replica's process only; anywhere else nothing changes.
    """
    if not _node_ip_is_loopback():
        return False
    try:
        from ray.serve._private import replica as serve_replica

        original: Any = getattr(serve_replica, "add_port_to_grpc_server")  # noqa: B009
    except (ImportError, AttributeError):
        log.warning("cannot narrow Ray Serve's replica gRPC bind (Ray changed)")
        return False
    if getattr(original, "imagine_loopback", False):
        return True

    def add_port(server: Any, address: str) -> int:
        if address == REPLICA_GRPC_ANY:
            address = "127.0.0.1:0"
        return int(original(server, address))

    add_port.imagine_loopback = True  # type: ignore[attr-defined]
    setattr(serve_replica, "add_port_to_grpc_server", add_port)  # noqa: B010
    return True


def _node_ip_is_loopback() -> bool:
    import ray

    node_ip: str = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    return ipaddress.ip_address(node_ip).is_loopback


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


def local_ray_options(settings: Settings) -> dict[str, Any]:
    """`ray.init` options for a single-node Ray that only loopback can reach.

    Ray binds every server of its own (GCS, raylet, object manager, core workers, dashboard
    and runtime-env agents, metrics export) to 127.0.0.1 when its node IP is 127.0.0.1, as it
    does on macOS and Windows; on Linux `ray.init` turns 127.0.0.1 into the host's address
    (and its servers then listen on all interfaces) unless clusters are switched off, which
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 does. Ray reads it at import, so this runs first.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    options: dict[str, Any] = {
        "address": "local",  # always a fresh local Ray, never one found via RAY_ADDRESS
        "_node_ip_address": "127.0.0.1",
    }
    if settings.ray_num_cpus is not None:
        options["num_cpus"] = settings.ray_num_cpus
    if settings.ray_temp_dir is not None:
        options["_temp_dir"] = str(settings.ray_temp_dir)
    return options


def run_ray_serve(settings: Settings) -> None:
    """Start (or join) Ray, run the application, block until SIGINT/SIGTERM."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
    if settings.ray_address:
        # Opt-in multi-node: join a cluster the operator started (`ray start`); its nodes
        # bind what `ray start --node-ip-address` says.
        init["address"] = settings.ray_address
    else:
        init.update(local_ray_options(settings))
    import ray
    from ray import serve

    ray.init(**init)
    if not settings.ray_address and not _node_ip_is_loopback():
        ray.shutdown()
        raise RuntimeError("a local Ray must bind loopback only, but its node IP is not")
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
