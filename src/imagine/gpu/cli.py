"""`imagine gpu …`: run FLUX.1 Kontext [dev] GPU workers for the gateway's remote engine.

Importing this module is cheap (no torch): the commands import the gpu extra when they run.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from imagine.logs import configure_logging, resolve_json
from imagine.settings import Settings
from imagine.terminal import markup_safe

gpu_app = typer.Typer(help="Run local FLUX.1 Kontext [dev] GPU workers.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {markup_safe(message)}", soft_wrap=True)
    return typer.Exit(1)


@gpu_app.command("serve")
def serve(
    no_ray: Annotated[
        bool, typer.Option("--no-ray", help="One GPU, plain uvicorn, no Ray Serve")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Bind address (IMAGINE_GPU_WORKER_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (IMAGINE_GPU_WORKER_PORT)")] = None,
) -> None:
    """Serve the diffusers engine over HTTP (POST /v1/edit), on Ray Serve by default."""
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["gpu_worker_host"] = host
    if port is not None:
        overrides["gpu_worker_port"] = port
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(settings.log_level, json=resolve_json(settings.log_format))
    if not settings.gpu_worker_token or not settings.gpu_worker_token.get_secret_value():
        raise _fail("IMAGINE_GPU_WORKER_TOKEN must be set (the gateway sends it)")
    if not settings.diffusers_model:
        raise _fail("IMAGINE_DIFFUSERS_MODEL must name the local FLUX.1 Kontext [dev] weights")
    try:
        if no_ray:
            from imagine.gpu.standalone import run_standalone

            run_standalone(settings)
        else:
            from imagine.gpu.serve import run_ray_serve

            run_ray_serve(settings)
    except ImportError as exc:
        raise _fail(f"the gpu extra is not installed ({exc}): pip install 'imagine[gpu]'") from exc
