"""The composition root: the process's collaborators, built from settings (no globals).

Only app.py, cli.py and background.py import this module; everything else is handed exactly
the collaborators it uses by `build_pipeline` and `build_deliverer`.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import anyio
import httpx
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imagine.accounts.concurrency import (
    InFlightLimiter,
    LocalInFlightLimiter,
    RedisInFlightLimiter,
)
from imagine.catalog import Model, load_catalog
from imagine.clock import Clock, SystemClock
from imagine.db.engine import PoolLimits, create_engine, read_session_factory, session_factory
from imagine.engines.registry import (
    LimiterFactory,
    ModelRoute,
    build_routes,
    local_limiters,
)
from imagine.engines.remote import build_worker_client
from imagine.engines.shared_limiter import RedisSlotLimiter
from imagine.engines.upstream import Sleep
from imagine.fetch.client import OutboundClients, build_outbound_clients
from imagine.fetch.images import ImageFetcher
from imagine.fetch.policy import AddressPolicy
from imagine.idempotency.guard import IdempotencyGuard
from imagine.images import decode_concurrency
from imagine.language import LanguageChecker
from imagine.metrics import Metrics
from imagine.settings import Settings
from imagine.storage.object_store import ObjectStoreBackend
from imagine.storage.orphans import KeyOwner, default_owners
from imagine.storage.store import LocalDirStore, Store
from imagine.tasks.background_edits import BackgroundEdits
from imagine.tasks.input_gate import InputGate
from imagine.tasks.pipeline import EditLimits, EditPipeline
from imagine.uploads.service import UploadLimits, Uploads
from imagine.webhooks.delivery import Deliverer, DeliveryPolicy
from imagine.webhooks.schedule import RandomSource
from imagine.webhooks.signal import OutboxSignal

# How long a hosted edit waits for its turn to fetch and upload its input before a 503.
INPUT_GATE_WAIT = 60.0


@dataclass
class Services:
    """Everything a request needs, created once per app."""

    settings: Settings
    clock: Clock
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    read_db: AsyncEngine  # a pool of its own for reads
    read_sessions: async_sessionmaker[AsyncSession]  # reads only: no write lock on SQLite
    store: Store
    clients: OutboundClients  # one SSRF-guarded client per purpose (fetch, provider, webhook)
    fetcher: ImageFetcher
    catalog: dict[str, Model]
    routes: dict[str, ModelRoute]
    limiter: InFlightLimiter
    language: LanguageChecker
    metrics: Metrics = field(default_factory=Metrics)
    redis: Redis | None = None
    gpu_http: httpx.AsyncClient | None = None  # the remote engine's client to GPU workers
    # One bound per app on concurrent image decodes: one slot per core.
    decode_slots: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(decode_concurrency())
    )
    outbox_signal: OutboxSignal = field(default_factory=OutboxSignal)
    # One bound per app on hosted edits holding an input until the provider accepts it.
    input_gate: InputGate = field(default_factory=lambda: InputGate(64, INPUT_GATE_WAIT))
    rng: RandomSource = field(default_factory=random.Random)  # webhook retry jitter
    # Who owns stored objects (one per table keeping object names): the orphan sweep
    # deletes old objects an owner claims but no row owns.
    object_owners: list[KeyOwner] = field(default_factory=default_owners)

    async def close(self) -> None:
        """Release connections."""
        await self.clients.aclose()
        if self.gpu_http is not None:
            await self.gpu_http.aclose()
        await self.db.dispose()
        if self.read_db is not self.db:
            await self.read_db.dispose()
        if self.redis is not None:
            await self.redis.aclose()


def build_uploads(services: Services) -> Uploads:
    """Uploaded inputs: the upload routes and the pipeline read them through this."""
    settings = services.settings
    return Uploads(
        sessions=services.sessions,
        store=services.store,
        clock=services.clock,
        limits=UploadLimits(
            max_bytes=settings.fetch_max_bytes,
            max_pixels=settings.max_image_pixels,
            ttl=settings.upload_ttl,
            max_live=settings.max_live_uploads,
        ),
        decode_slots=services.decode_slots,
        public_url=settings.resolved_public_url(),
    )


def build_pipeline(
    services: Services,
    *,
    uploads: Uploads | None = None,
    background: BackgroundEdits | None = None,
) -> EditPipeline:
    """The /imagine pipeline, with exactly the collaborators it uses (async mode only with
    `background`, whose lifetime the app's lifespan owns)."""
    settings = services.settings
    return EditPipeline(
        sessions=services.sessions,
        clock=services.clock,
        store=services.store,
        catalog=services.catalog,
        engines={
            model_id: route.engine
            for model_id, route in services.routes.items()
            if route.engine is not None and route.available
        },
        fetcher=services.fetcher,
        limiter=services.limiter,
        language=services.language,
        decode_slots=services.decode_slots,
        input_gate=services.input_gate,
        metrics=services.metrics,
        outbox=services.outbox_signal,
        limits=EditLimits(
            max_prompt_chars=settings.max_prompt_chars,
            # A data URI carries the image base64-encoded (4/3) plus its header.
            max_data_uri_chars=settings.fetch_max_bytes * 4 // 3 + 1024,
            max_image_pixels=settings.max_image_pixels,
            output_ttl=settings.output_ttl,
            reject_non_english=settings.non_english == "reject",
        ),
        public_url=settings.resolved_public_url(),
        uploads=uploads or build_uploads(services),
        background=background,
    )


def build_idempotency(services: Services) -> IdempotencyGuard:
    """The Idempotency-Key guard, with exactly the collaborators it uses."""
    settings = services.settings
    return IdempotencyGuard(
        services.sessions,
        services.clock,
        ttl=settings.idempotency_ttl,
        wait=settings.idempotency_wait,
        # A claim outliving the orphan timeout is lost: its task has been failed by then.
        lock=settings.reservation_timeout,
    )


def build_deliverer(services: Services) -> Deliverer:
    """The webhook delivery loop, with exactly the collaborators it uses."""
    settings = services.settings
    return Deliverer(
        sessions=services.sessions,
        http=services.clients.webhook,
        clock=services.clock,
        rng=services.rng,
        signal=services.outbox_signal,
        policy=DeliveryPolicy(
            timeout=settings.webhook_timeout,
            poll_interval=settings.webhook_poll_interval,
            retry_schedule=tuple(settings.webhook_retry_schedule),
        ),
    )


def build_store(settings: Settings) -> Store:
    """The configured output store: an object store URL, else the local directory."""
    if settings.store_url and settings.store_url.get_secret_value():
        return ObjectStoreBackend(settings.store_url.get_secret_value())
    return LocalDirStore(settings.resolved_output_dir())


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    http: httpx.AsyncClient | None = None,
    language: LanguageChecker | None = None,
    sleep: Sleep = asyncio.sleep,
) -> Services:
    """Wire the defaults; tests pass fakes for the clock, store or outbound client.

    `http`, when given, serves every outbound purpose (a test's scripted transport);
    `sleep` is how hosted engines wait between polls and retries.
    """
    pool = PoolLimits(
        settings.db_pool_size,
        settings.db_max_overflow,
        settings.db_pool_timeout,
        settings.db_lock_timeout,
    )
    db = create_engine(settings.resolved_database_url(), pool)
    # Reads get their own pool: under a burst of writes (admissions queue for SQLite's write
    # lock), /account, /fetch and key lookups still find a connection.
    # Only a SQLite file needs it (its one write lock queues admissions); PostgreSQL keeps
    # one pool, so IMAGINE_DB_POOL_SIZE + IMAGINE_DB_MAX_OVERFLOW stays the connection budget.
    url = make_url(settings.resolved_database_url())
    on_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    read_db = (
        create_engine(url.render_as_string(hide_password=False), pool, inline=True)
        if on_file
        else db
    )
    clients = OutboundClients.sharing(http) if http else build_outbound_clients(settings)
    catalog = load_catalog(settings.catalog_file)
    fetcher = ImageFetcher(
        clients.fetch,
        AddressPolicy.from_allow_list(settings.fetch_allow),
        max_bytes=settings.fetch_max_bytes,
        deadline=settings.fetch_deadline,
        max_redirects=settings.fetch_max_redirects,
    )
    the_clock = clock or SystemClock()
    gpu_http = build_worker_client(settings.gpu_worker_timeout) if settings.gpu_worker_url else None
    redis = (
        Redis.from_url(
            settings.redis_url.get_secret_value(), socket_timeout=5, socket_connect_timeout=5
        )
        if settings.redis_url and settings.redis_url.get_secret_value()
        else None
    )
    limiter: InFlightLimiter = (
        RedisInFlightLimiter(
            redis, lease_seconds=settings.reservation_timeout.total_seconds(), clock=the_clock
        )
        if redis is not None
        else LocalInFlightLimiter()
    )
    provider_limiters: LimiterFactory = local_limiters
    if redis is not None:
        shared = redis

        def provider_limiters(name: str, capacity: int) -> RedisSlotLimiter:
            """Provider caps every replica on this Redis shares (leased, fair)."""
            return RedisSlotLimiter(
                shared, name, capacity, lease_seconds=settings.provider_slot_lease
            )

    return Services(
        input_gate=InputGate(settings.max_inputs_in_flight, INPUT_GATE_WAIT),
        settings=settings,
        clock=the_clock,
        db=db,
        sessions=session_factory(db),
        read_db=read_db,
        read_sessions=read_session_factory(read_db),
        store=store or build_store(settings),
        clients=clients,
        fetcher=fetcher,
        catalog=catalog,
        routes=build_routes(
            settings,
            catalog,
            clients.provider,
            the_clock,
            new_limiter=provider_limiters,
            gpu_http=gpu_http,
            sleep=sleep,
        ),
        gpu_http=gpu_http,
        limiter=limiter,
        redis=redis,
        language=language or LanguageChecker(),
    )
