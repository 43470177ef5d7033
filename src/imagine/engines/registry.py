"""Builds the engine that serves each model from settings."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import structlog
from pydantic import SecretStr

from imagine.catalog import Model
from imagine.clock import Clock
from imagine.engines import bfl, fal, replicate
from imagine.engines.base import Engine
from imagine.engines.failover import FailoverEngine
from imagine.engines.hosted import HostedParts, HostedProvider
from imagine.engines.hosts import HostPolicy
from imagine.engines.limiter import Limiter, SlotLimiter
from imagine.engines.moderation import ModeratedEngine, SafetyMode
from imagine.engines.offline.engine import OfflineEngine
from imagine.engines.offline.vision.base import SafetyClassifier, Vision
from imagine.engines.offline.vision.bundled import load_safety, load_vision
from imagine.engines.remote import RemoteEngine
from imagine.engines.upstream import Sleep, UpstreamClient
from imagine.settings import Settings

log = structlog.get_logger(__name__)

# The hosted providers, each described by its engine module (name, auth, settings); the
# default engine order when keys are set is this order.
HOSTED: dict[str, HostedProvider] = {
    p.name: p for p in (bfl.PROVIDER, fal.PROVIDER, replicate.PROVIDER)
}
UPSTREAMS = tuple(HOSTED)
# Engines without a provider's moderation: the safety classifier checks them (IMAGINE_SAFETY)
LOCAL_ENGINES = frozenset({"offline", "diffusers", "remote"})
LOCAL_MODEL = "flux-kontext-dev"  # what the diffusers and remote engines run


@dataclass
class ModelRoute:
    """How one model is served; what `GET /api/v1/models` reports.

    `available` is False (and `engine` None) when no configured engine can serve the model:
    the service answers 503 for it. `engine_names` lists the engines tried, in order
    (e.g. ["bfl", "fal"], or ["offline"]); it never contains keys or URLs. `note` explains
    a fallback or an unavailability to operators.
    """

    model: Model
    engine: Engine | None
    engine_names: list[str]
    available: bool
    note: str = ""
    skipped: list[str] = field(default_factory=list)
    vision: list[str] = field(default_factory=list)  # the models active on its local engines

    @property
    def offline(self) -> bool:
        """True when the model is served by the offline (non-FLUX) engine."""
        return self.engine_names == ["offline"]

    def public(self) -> dict[str, object]:
        """The model's entry for `GET /api/v1/models` (no secrets, no provider URLs)."""
        return {
            "id": self.model.id,
            "price": self.model.price,
            "available": self.available,
            "engines": list(self.engine_names) if self.available else [],
        }


def _prefixed(scheme: str, key: SecretStr) -> SecretStr:
    """An Authorization value `<scheme> <key>`, still wrapped (unwrapped only when sent)."""
    return SecretStr(f"{scheme} {key.get_secret_value()}")


LimiterFactory = Callable[[str, int], SlotLimiter]


def local_limiters(name: str, capacity: int) -> SlotLimiter:
    """In-process caps (one replica, or no Redis configured)."""
    return Limiter(capacity, name)


def _fingerprint(key: SecretStr | None) -> str:
    """A short, one-way name for a provider key: caps are per key, shared by its replicas."""
    secret = key.get_secret_value() if key else ""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


class _Builder:
    """Creates upstream engines; one client and one limiter set per provider account."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        clock: Clock,
        sleep: Sleep,
        new_limiter: LimiterFactory,
        gpu_http: httpx.AsyncClient | None = None,
    ) -> None:
        self.s, self.http, self.clock, self.sleep = settings, http, clock, sleep
        self.new_limiter = new_limiter
        self.gpu_http = gpu_http
        self.clients: dict[str, UpstreamClient] = {}
        self.limiters: dict[str, SlotLimiter] = {}
        self._diffusers: Engine | None = None
        # Why a local engine could not be built (e.g. a broken model directory): such a
        # model is unavailable (503), never silently served by the offline engine.
        self.broken: dict[str, str] = {}

    def diffusers(self) -> Engine | None:
        """The in-process FLUX.1 Kontext [dev] engine, loaded once (None: see `broken`)."""
        if self._diffusers is not None or "diffusers" in self.broken:
            return self._diffusers
        if not self.s.diffusers_model:
            return None  # not configured: skipped, like an upstream without a key
        try:
            from imagine.gpu.build import build_diffusers_engine
            from imagine.gpu.runner import ModelLoadError
        except ImportError as exc:
            self.broken["diffusers"] = (
                f"the gpu extra is not installed ({exc}); pip install 'imagine[gpu]'"
            )
            return None
        try:
            self._diffusers = build_diffusers_engine(self.s)
        except ModelLoadError as exc:
            self.broken["diffusers"] = str(exc)
        return self._diffusers

    def remote(self) -> Engine | None:
        """The engine calling `imagine gpu serve` workers (None: not configured)."""
        s = self.s
        token = s.gpu_worker_token.get_secret_value() if s.gpu_worker_token else ""
        if not s.gpu_worker_url or not token or self.gpu_http is None:
            return None  # IMAGINE_GPU_WORKER_URL and IMAGINE_GPU_WORKER_TOKEN are needed
        assert s.gpu_worker_token is not None
        return RemoteEngine(
            self.gpu_http, s.gpu_worker_url, s.gpu_worker_token, s.gpu_worker_timeout
        )

    def has_key(self, name: str) -> bool:
        """True when the hosted provider `name` has a key or token configured."""
        provider = HOSTED.get(name)
        return provider is not None and bool(self._key(provider))

    def _key(self, provider: HostedProvider) -> SecretStr | None:
        key = getattr(self.s, provider.key_setting)
        return key if isinstance(key, SecretStr) and key.get_secret_value() else None

    def _client(self, provider: HostedProvider, key: SecretStr) -> UpstreamClient:
        if provider.name not in self.clients:
            hosts = HostPolicy(
                getattr(self.s, provider.base_url_setting),
                getattr(self.s, provider.delivery_hosts_setting),
            )
            value = _prefixed(provider.auth_scheme, key) if provider.auth_scheme else key
            self.clients[provider.name] = UpstreamClient(
                provider.name,
                self.http,
                hosts,
                {provider.auth_header: value},
                self.clock,
                self.sleep,
            )
        return self.clients[provider.name]

    def _limiter(self, key: str, cap: int, secret: SecretStr | None) -> SlotLimiter:
        name = f"{key}:{_fingerprint(secret)}"
        if name not in self.limiters:
            self.limiters[name] = self.new_limiter(name, cap)
        return self.limiters[name]

    def engine(self, name: str, model: Model) -> Engine | None:
        """The `name` engine for `model`, or None if that upstream does not serve it (no
        upstream id in the catalog, or its body cannot carry the model's inputs) or has no
        key."""
        provider = HOSTED.get(name)
        upstream_id = model.upstream_id(name)
        if provider is None or upstream_id is None:
            return None
        engine_cls = provider.engine
        max_inputs, text_to_image = engine_cls.takes(model.sizing)
        if model.max_images > max_inputs or (not model.requires_image and not text_to_image):
            return None
        key = self._key(provider)
        if key is None:
            return None
        s = self.s
        # The endpoint's own cap (e.g. Kontext Max: 6) first, then the key's overall cap.
        limiters = [self._limiter(name, getattr(s, provider.max_in_flight_setting), key)]
        cap_setting = provider.endpoint_caps.get(upstream_id)
        if cap_setting is not None:
            limiters.insert(0, self._limiter(f"{name}:{upstream_id}", getattr(s, cap_setting), key))
        return engine_cls.from_parts(
            HostedParts(
                upstream=self._client(provider, key),
                base_url=getattr(s, provider.base_url_setting),
                upstream_id=upstream_id,
                limiters=limiters,
                deadline_s=s.upstream_deadline,
                safety_tolerance=s.bfl_safety_tolerance,
                queue_timeout=s.upstream_queue_timeout,
                sizing=model.sizing,
                generate_id=model.upstream_id(name, "generate")
                if "generate" in model.kinds
                else None,
            )
        )


def _default_names(settings: Settings, model_id: str) -> list[str]:
    """The local model's engine when one is configured (else the usual defaults)."""
    if model_id != LOCAL_MODEL:
        return []
    if settings.diffusers_model:
        return ["diffusers"]
    if settings.gpu_worker_url:
        return ["remote"]
    return []


def build_routes(
    settings: Settings,
    catalog: dict[str, Model],
    http_client: httpx.AsyncClient,
    clock: Clock,
    sleep: Sleep = asyncio.sleep,
    new_limiter: LimiterFactory = local_limiters,
    *,
    gpu_http: httpx.AsyncClient | None = None,
) -> dict[str, ModelRoute]:
    """Resolve each catalog model to its ordered engines (skipping upstreams without keys).

    `new_limiter` builds each provider key's in-flight caps: in-process by default, shared
    through Redis when replicas share the key (see services.py).
    """
    builder = _Builder(settings, http_client, clock, sleep, new_limiter, gpu_http)
    local = LocalModels.load(settings)
    offline: Callable[[], Engine] = lambda: local.guard(OfflineEngine(local.vision))  # noqa: E731
    # Engine kinds that are not hosted providers: name → a builder for one catalog model
    # (None: it cannot serve that model). A local GPU or remote worker kind is one more entry.
    local_kinds: dict[str, Callable[[Model], Engine | None]] = {
        "offline": lambda _model: offline(),
        "diffusers": lambda _model: builder.diffusers(),
        "remote": lambda _model: builder.remote(),
    }
    keyed = [name for name in UPSTREAMS if builder.has_key(name)]
    routes: dict[str, ModelRoute] = {}
    for model in catalog.values():
        names = (
            settings.engines.get(model.id)
            or _default_names(settings, model.id)
            or keyed
            or [settings.default_engine]
        )
        chain: list[tuple[str, Engine]] = []
        skipped: list[str] = []
        for name in names:
            make = local_kinds.get(name)
            built = make(model) if make is not None else builder.engine(name, model)
            if built is not None and name in LOCAL_ENGINES and name != "offline":
                built = local.guard(built)
            if built is None:
                skipped.append(name)
            else:
                chain.append((name, built))
        note = f"skipped {skipped} (no key, or not served there)" if skipped else ""
        broken = [f"{n}: {builder.broken[n]}" for n in skipped if n in builder.broken]
        if not chain and broken:
            routes[model.id] = ModelRoute(model, None, [], False, "; ".join(broken), skipped)
        elif not chain and settings.allow_offline_fallback:
            routes[model.id] = ModelRoute(
                model,
                offline(),
                ["offline"],
                True,
                note or "no upstream configured; serving with the offline engine",
                skipped,
            )
            routes[model.id].vision = list(local.names)
        elif not chain:
            routes[model.id] = ModelRoute(
                model, None, [], False, note or "no engine configured", skipped
            )
        elif len(chain) == 1:
            routes[model.id] = ModelRoute(model, chain[0][1], [chain[0][0]], True, note, skipped)
        else:
            engine = FailoverEngine(chain, clock, settings.upstream_deadline)
            routes[model.id] = ModelRoute(model, engine, engine.names, True, note, skipped)
        if any(name in LOCAL_ENGINES for name in routes[model.id].engine_names):
            routes[model.id].vision = list(local.names)
    return routes


@dataclass
class LocalModels:
    """The vision and safety models of the local engines, loaded lazily (first use)."""

    vision: Vision | None
    safety: SafetyClassifier | None
    mode: str
    threshold: float
    names: list[str]

    @classmethod
    def load(cls, settings: Settings) -> LocalModels:
        """What the settings and the installed `vision` extra give; a safety check that is
        asked for but not installed stops the start-up (it must never silently be off)."""
        vision = load_vision(settings.vision_models_dir) if settings.vision == "auto" else None
        names = list(vision.names) if vision is not None else []
        safety: SafetyClassifier | None = None
        if settings.safety != "off":
            found = load_safety(settings.vision_models_dir)
            if found is None:
                raise ValueError(
                    f"IMAGINE_SAFETY={settings.safety} needs the NSFW classifier: install the"
                    " `vision` extra (or put nsfw.onnx in IMAGINE_VISION_MODELS_DIR)"
                )
            safety = found[0]
            names.append(f"{found[1]} ({settings.safety} from {settings.safety_threshold:g})")
        return cls(vision, safety, settings.safety, settings.safety_threshold, names)

    def guard(self, engine: Engine) -> Engine:
        """The engine, checked by the safety classifier when one is configured."""
        if self.safety is None or self.mode not in ("flag", "block"):
            return engine
        mode: SafetyMode = "block" if self.mode == "block" else "flag"
        return ModeratedEngine(engine, self.safety, mode, self.threshold)


def log_routes(routes: dict[str, ModelRoute]) -> None:
    """Say plainly, at startup, which engines serve each model (never keys or URLs)."""
    for route in routes.values():
        if not route.available:
            # A configured local model that failed to load is an operator's emergency.
            loud = log.error if route.note and "skipped" not in route.note else log.warning
            loud(
                "model unavailable",
                model=route.model.id,
                reason=route.note,
                configured=route.skipped,
            )
        elif route.offline:
            log.warning(
                "model served by the OFFLINE engine (classical image processing, not FLUX"
                " Kontext); set IMAGINE_BFL_API_KEY to serve the real model",
                model=route.model.id,
                vision=route.vision or "none: GrabCut finds the subject (install the vision extra)",
                **({"note": route.note} if route.note else {}),
            )
        else:
            log.info(
                "model served",
                model=route.model.id,
                engines=route.engine_names,
                **({"note": route.note} if route.note else {}),
            )
