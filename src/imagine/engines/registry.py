"""Builds the engine that serves each model from settings."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from imagine.catalog import Model
from imagine.engines.base import Engine
from imagine.engines.offline.engine import OfflineEngine
from imagine.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class ModelRoute:
    """How one model is served: its engine (None when unavailable) and a readable label."""

    model: Model
    engine: Engine | None
    engine_names: list[str]
    available: bool
    note: str = ""


def build_routes(settings: Settings, catalog: dict[str, Model]) -> dict[str, ModelRoute]:
    """Resolve each catalog model to the engine configured for it."""
    routes: dict[str, ModelRoute] = {}
    offline = OfflineEngine()
    for model in catalog.values():
        names = settings.engines.get(model.id) or [settings.default_engine]
        unknown = [n for n in names if n != "offline"]
        if unknown and settings.allow_offline_fallback:
            routes[model.id] = ModelRoute(
                model, offline, ["offline"], True,
                f"engines {unknown} are not built in yet; serving with the offline engine",
            )
        elif unknown:
            routes[model.id] = ModelRoute(
                model, None, names, False, f"engines {unknown} are not available"
            )
        else:
            routes[model.id] = ModelRoute(model, offline, ["offline"], True)
    return routes


def log_routes(routes: dict[str, ModelRoute]) -> None:
    """Say plainly, at startup, which engine serves each model."""
    for route in routes.values():
        if not route.available:
            log.warning("model unavailable", model=route.model.id, reason=route.note)
        elif route.engine_names == ["offline"]:
            log.warning(
                "model served by the OFFLINE engine (classical image processing, not FLUX"
                " Kontext); set IMAGINE_BFL_API_KEY to serve the real model",
                model=route.model.id,
                note=route.note or None,
            )
        else:
            log.info("model served", model=route.model.id, engines=route.engine_names)
