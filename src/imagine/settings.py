"""Typed settings: every knob of the service, read from `IMAGINE_*` environment variables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_csv(value: object) -> object:
    """Accept `a,b,c` strings for list settings (JSON lists still work)."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            import json

            return json.loads(stripped)
        return [part.strip() for part in stripped.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """All configuration of one imagine process. Field docs double as the README table."""

    model_config = SettingsConfigDict(
        env_prefix="IMAGINE_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )

    # --- where state lives ---
    data_dir: Path = Field(
        default=Path("./imagine-data"),
        description="Directory for the SQLite database and stored outputs.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///$IMAGINE_DATA_DIR/imagine.db."
        " PostgreSQL: postgresql+asyncpg://user:password@host/db (kept secret: never logged).",
    )
    worker_threads: int = Field(
        default=40,
        ge=2,
        le=1024,
        description="Threads for blocking work (image decode/encode, offline rendering, file"
        " stores); image decodes are further limited to one per CPU core.",
    )
    db_pool_size: int = Field(
        default=10, ge=1, description="Database connections kept open per process."
    )
    db_max_overflow: int = Field(
        default=20, ge=0, description="Extra database connections opened under load."
    )
    db_pool_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a request waits for a free database connection before a clear"
        " 503 with Retry-After (never a 500).",
    )
    db_lock_timeout: float = Field(
        default=30.0,
        gt=0,
        description="SQLite only: seconds a write waits for the file's write lock (its turn"
        " among this process's writers, first come first served, then other processes)"
        " before a 503 with Retry-After.",
    )
    output_dir: Path | None = Field(
        default=None, description="Directory for output images; default $IMAGINE_DATA_DIR/outputs."
    )
    store_url: SecretStr | None = Field(
        default=None,
        description="Object store for outputs instead of the local directory: s3://bucket/prefix,"
        " gs://…, az://…, file:///path, memory:/// (credentials from the provider's env vars).",
    )

    # --- HTTP ---
    host: str = Field(default="127.0.0.1", description="Address `imagine serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `imagine serve` binds to.")
    public_url: str | None = Field(
        default=None,
        description="Base URL used in returned image_url values; default http://<host>:<port>.",
    )
    max_body_bytes: int = Field(
        default=30 * 1024 * 1024,
        description="Largest accepted API request body: room for a data: URI of a"
        " IMAGINE_FETCH_MAX_BYTES image (base64 adds a third), little more.",
    )
    body_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a client has to send its whole request body (408 after).",
    )
    max_uploads_per_account: int = Field(
        default=8,
        ge=1,
        description="Uploads (request bodies over 64 KiB, or chunked) one account may be"
        " sending at once; more get 429 before their body is read.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, /metrics answers only `Authorization: Bearer <token>`, and"
        " GET /providers (each hosted provider's key, reachability, balance) exists, for that"
        " token only.",
    )
    max_header_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest request head (request line plus all headers), in bytes; a larger"
        " one gets 431 and the connection is closed. Also bounds the header count.",
    )
    max_headers: int = Field(
        default=100, ge=10, description="Most header fields in one request; more gets 431."
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a complete request head once connected (or"
        " once it starts the next request on a kept-alive connection); then it is"
        " disconnected (slow-loris guard).",
    )
    limit_concurrency: int = Field(
        default=4096,
        ge=1,
        description="Last guard: open connections plus requests in progress beyond which new"
        " requests get 503 at once.",
    )

    # --- outputs ---
    output_ttl: timedelta = Field(
        default=timedelta(days=14),
        description="How long output URLs live (seconds or ISO 8601, e.g. P14D).",
    )
    sweep_interval: float = Field(
        default=60.0, gt=0, description="Seconds between background sweeps of expired outputs."
    )
    reservation_timeout: timedelta = Field(
        default=timedelta(minutes=15),
        description="A task still running after this long is failed and its credits released"
        " (covers crashes mid-request).",
    )

    # --- accounts ---
    bootstrap_email: str = Field(
        default="admin@localhost", description="Email of the account created on first start."
    )
    bootstrap_credits: int = Field(
        default=1000, ge=0, description="Credits of the account created on first start."
    )

    auth_cache_ttl: float = Field(
        default=5.0,
        ge=0,
        description="Seconds an API key → account lookup is cached in-process (0: off); a"
        " revoked key stops working within this bound.",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis URL (redis://host:6379/0) for per-account concurrency shared by"
        " several replicas; default: counted in-process.",
    )

    # --- prompts ---
    non_english: Literal["warn", "reject"] = Field(
        default="warn",
        description="What to do with a prompt that is confidently not English:"
        " warn or reject (400).",
    )
    max_prompt_chars: int = Field(default=4000, ge=1, description="Longest accepted prompt.")

    # --- fetching images ---
    fetch_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated hosts/CIDRs that may be fetched even though private or"
        " loopback, e.g. 127.0.0.1/32 for local use.",
    )
    fetch_max_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1,
        description="Largest image download, enforced while streaming.",
    )
    fetch_connect_timeout: float = Field(default=5.0, gt=0, description="Connect timeout, seconds.")
    fetch_deadline: float = Field(
        default=30.0, gt=0, description="Total time allowed for one download, seconds."
    )
    fetch_max_redirects: int = Field(default=3, ge=0, le=10, description="Redirect hops followed.")
    max_image_pixels: int = Field(
        default=40_000_000, ge=1, description="Largest decoded image, in pixels (bomb guard)."
    )

    # --- engines ---
    engines: dict[str, Annotated[list[str], NoDecode]] = Field(
        default_factory=dict,
        description="Per model, the ordered engine list, e.g."
        " IMAGINE_ENGINES__FLUX_KONTEXT_MAX=bfl,fal. Unset models use the default engine.",
    )
    default_engine: str = Field(
        default="offline",
        description="Engine for models with no explicit list when no upstream key is set"
        " (with keys, the default list is the keyed upstreams in order bfl, fal, replicate).",
    )
    allow_offline_fallback: bool = Field(
        default=True,
        description="Serve a model with the offline engine when none of its engines has a key.",
    )
    # --- catalog (model ids, kinds, prices, upstream ids) ---
    catalog_file: str = Field(
        default="",
        description="A TOML model catalog replacing the bundled one (same shape as"
        " src/imagine/catalog.toml); empty: the bundled catalog.",
    )
    upstream_deadline: float = Field(
        default=120.0, gt=0, description="Seconds an upstream engine may take before 504."
    )
    bfl_api_key: SecretStr | None = Field(default=None, description="Black Forest Labs API key.")
    bfl_base_url: str = Field(default="https://api.bfl.ai", description="BFL API base URL.")
    bfl_delivery_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["bfl.ai", "*.bfl.ai"],
        description="Hosts (wildcards allowed) BFL polling/result URLs may point at.",
    )
    bfl_safety_tolerance: int = Field(default=2, ge=0, le=6, description="BFL safety_tolerance.")
    bfl_max_in_flight: int = Field(
        default=24, ge=1, description="Tasks in flight per BFL key (the provider's cap)."
    )
    bfl_max_in_flight_kontext_max: int = Field(
        default=6, ge=1, description="Kontext Max tasks in flight per BFL key (provider cap)."
    )
    upstream_queue_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a request waits in the fair queue for an upstream slot before 429.",
    )
    fal_api_key: SecretStr | None = Field(default=None, description="fal API key.")
    fal_base_url: str = Field(default="https://queue.fal.run", description="fal queue base URL.")
    fal_max_in_flight: int = Field(default=10, ge=1, description="Tasks in flight per fal key.")
    fal_delivery_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["fal.media", "*.fal.media", "*.fal.run"],
        description="Hosts fal status/result URLs may point at.",
    )
    replicate_api_token: SecretStr | None = Field(default=None, description="Replicate API token.")
    replicate_base_url: str = Field(
        default="https://api.replicate.com", description="Replicate API base URL."
    )

    replicate_max_in_flight: int = Field(
        default=24, ge=1, description="Predictions in flight per Replicate token."
    )
    replicate_delivery_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["replicate.delivery", "*.replicate.delivery"],
        description="Hosts Replicate result URLs may point at.",
    )

    # --- local FLUX.1 Kontext [dev] (diffusers engine, `imagine gpu`) ---
    diffusers_model: str | None = Field(
        default=None,
        description="Local diffusers-format directory of FLUX.1 Kontext [dev] (or a repo id"
        " already in the local Hugging Face cache); never downloaded at run time. Setting it"
        " serves flux-kontext-dev with the diffusers engine.",
    )
    diffusers_device: str = Field(
        default="auto", description="torch device: auto (cuda if available), cuda, cuda:1, cpu."
    )
    diffusers_steps: int = Field(default=28, ge=1, le=200, description="Denoising steps.")
    diffusers_guidance: float = Field(default=2.5, ge=0, description="Guidance scale.")
    diffusers_max_sequence_length: int = Field(
        default=512, ge=16, le=512, description="T5 prompt tokens."
    )
    diffusers_queue_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a request waits in the fair queue for the GPU before 429.",
    )
    diffusers_deadline: float = Field(
        default=300.0, gt=0, description="Seconds one generation may take before 504."
    )
    diffusers_compile: bool = Field(
        default=False, description="torch.compile the transformer (slow first start)."
    )
    diffusers_first_block_cache: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="First Block Cache threshold (e.g. 0.08); 0 is off.",
    )
    diffusers_fp8: bool = Field(
        default=False, description="fp8 weight-only transformer (needs torchao)."
    )
    diffusers_cpu_offload: bool = Field(
        default=False, description="Model CPU offload, for GPUs under ~40 GB."
    )
    diffusers_warmup: bool | None = Field(
        default=None,
        description="One warm-up generation at start; default: only when compiling.",
    )
    gpu_worker_url: str | None = Field(
        default=None,
        description="Base URL of `imagine gpu serve` for the remote engine, e.g."
        " http://10.0.0.5:8100/kontext (Ray Serve) or http://127.0.0.1:8100 (--no-ray).",
    )
    gpu_worker_token: SecretStr | None = Field(
        default=None,
        description="Shared secret between the remote engine and `imagine gpu serve`"
        " (required by both).",
    )
    gpu_worker_timeout: float = Field(
        default=360.0,
        gt=0,
        description="Seconds the remote engine waits for one whole edit before 504 (the"
        " worker then stops it).",
    )
    gpu_worker_host: str = Field(
        default="127.0.0.1",
        description="Address the route of `imagine gpu serve` binds to (a local Ray's own"
        " ports stay on loopback).",
    )
    gpu_worker_port: int = Field(
        default=8100, ge=1, le=65535, description="Port `imagine gpu serve` binds to."
    )
    gpu_min_replicas: int = Field(default=1, ge=0, description="Ray Serve: fewest GPU replicas.")
    gpu_max_replicas: int = Field(default=1, ge=1, description="Ray Serve: most GPU replicas.")
    gpu_max_ongoing_requests: int = Field(
        default=2,
        ge=1,
        description="Ray Serve: requests one replica holds (one runs, the rest wait).",
    )
    gpu_num_gpus: float = Field(
        default=1.0, ge=0, description="Ray Serve: GPUs per replica (0 on a CPU-only test box)."
    )
    ray_address: str | None = Field(
        default=None,
        description="Ray cluster to join, for several GPU machines (default: start a local,"
        " single-node Ray that binds loopback only).",
    )
    ray_num_cpus: int | None = Field(
        default=None, ge=1, description="CPUs of a local Ray started by `imagine gpu serve`."
    )
    ray_temp_dir: Path | None = Field(
        default=None, description="Temp/session directory of a local Ray (keep the path short)."
    )

    # --- webhooks ---
    webhook_timeout: float = Field(default=15.0, gt=0, le=15, description="Per-attempt timeout.")
    webhook_poll_interval: float = Field(
        default=1.0, gt=0, description="Seconds between outbox polls of the delivery loop."
    )
    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        min_length=1,
        max_length=20,
        description="Seconds to wait after each failed webhook attempt (±20% jitter);"
        " after the last, the delivery is marked failed.",
    )
    webhook_retention: timedelta = Field(
        default=timedelta(days=30),
        description="How long delivered or failed webhook deliveries and their attempt records"
        " are kept (seconds or ISO 8601, e.g. P30D).",
    )
    run_worker_in_process: bool = Field(
        default=True,
        description="Run webhook delivery and sweeping inside `imagine serve` (off when"
        " separate `imagine worker` processes do it).",
    )

    # --- several replicas ---
    provider_max_connections: int = Field(
        default=64,
        ge=1,
        description="Connections the provider-API client keeps open per process (its own pool,"
        " apart from image fetches and webhooks).",
    )
    provider_slot_lease: float = Field(
        default=30.0,
        ge=2,
        description="With IMAGINE_REDIS_URL: seconds a provider in-flight slot stays leased"
        " without renewal (a holder renews it every third of this); a dead replica's slots"
        " return after it.",
    )
    orphan_grace: timedelta = Field(
        default=timedelta(hours=1),
        description="Stored objects no database row owns are deleted by the sweep once older"
        " than this (bytes left by a crash between storing and committing); seconds or ISO 8601.",
    )

    # --- uploads and async mode ---
    upload_ttl: timedelta = Field(
        default=timedelta(hours=1),
        description="How long an upload (POST /api/v1/uploads) stays usable as its account's"
        " image_url (seconds or ISO 8601); then its bytes and row are swept.",
    )
    max_live_uploads: int = Field(
        default=100,
        ge=1,
        description="Unexpired uploads one account may hold; one more gets 429.",
    )
    max_inputs_in_flight: int = Field(
        default=64,
        ge=1,
        description="Hosted edits that may hold their input image (fetched, then uploaded)"
        " at once in this process until the provider accepts it; the others wait their"
        " turn before fetching (up to 60 s, then 503), so a burst costs kilobytes per"
        " waiting edit, not megabytes.",
    )
    max_background_edits: int = Field(
        default=64,
        ge=1,
        description="Async edits (`Prefer: respond-async`) running at once in this process;"
        " one more gets 503 with Retry-After.",
    )
    async_shutdown_grace: float = Field(
        default=10.0,
        ge=0,
        description="Seconds a stopping server waits for running async edits before it"
        " cancels them (they are then failed and refunded, their webhooks sent).",
    )

    # --- idempotency (Idempotency-Key) ---
    idempotency_ttl: timedelta = Field(
        default=timedelta(days=1),
        description="How long an Idempotency-Key and its stored response are kept and replayed"
        " (seconds or ISO 8601); after that the same key runs the request again.",
    )
    idempotency_wait: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a duplicate request waits for the first request with the same"
        " Idempotency-Key to finish (then it replays the outcome, or answers 409).",
    )

    # --- playground ---
    playground: bool = Field(
        default=True,
        description="Serve the browser playground at /playground (and redirect / there); off"
        " for API-only deployments (both answer 404).",
    )

    # --- vision models and safety (offline and local GPU engines) ---
    vision: Literal["auto", "off"] = Field(
        default="auto",
        description="auto: the offline engine finds objects with the bundled detection and"
        " segmentation models when the `vision` extra is installed (else GrabCut); off: GrabCut.",
    )
    vision_models_dir: Path | None = Field(
        default=None,
        description="A folder of your own model files of the same kinds, used instead of the"
        " bundled ones where present: segmenter.onnx (U²-Net-style), detector.pb +"
        " detector.pbtxt (TF SSD, COCO ids), nsfw.onnx (open_nsfw-style).",
    )
    safety: Literal["off", "flag", "block"] = Field(
        default="off",
        description="NSFW check of the inputs and outputs of the offline and local GPU engines:"
        " flag adds a warning, block answers 422 Content policy violation (nothing charged).",
    )
    safety_threshold: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="NSFW score (0..1) from which `safety` flags or blocks an image.",
    )

    # --- logging ---
    log_level: str = Field(
        default="INFO",
        description="Log level. httpx, httpcore, aiosqlite and sqlalchemy.engine stay at WARNING"
        " whatever this says (they would log credential-bearing URLs and SQL parameters).",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="json: one JSON object per line on stderr; console: readable lines; auto:"
        " console when stderr is a terminal, else json. Tracebacks never include locals.",
    )

    @field_validator(
        "fetch_allow",
        "bfl_delivery_hosts",
        "fal_delivery_hosts",
        "replicate_delivery_hosts",
        "webhook_retry_schedule",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator(
        "output_ttl",
        "reservation_timeout",
        "webhook_retention",
        "orphan_grace",
        "upload_ttl",
        "idempotency_ttl",
        mode="before",
    )
    @classmethod
    def _seconds(cls, value: object) -> object:
        # pydantic reads "3600" as an ISO 8601-ish string and refuses it; the README says
        # plain seconds work, so a number in a string is seconds (ISO 8601 still works).
        if isinstance(value, str):
            text = value.strip()
            try:
                return timedelta(seconds=float(text))
            except ValueError:
                return text
        return value

    @field_validator("engines", mode="before")
    @classmethod
    def _engines(cls, value: object) -> object:
        if isinstance(value, dict):
            return {str(k).lower().replace("_", "-"): _split_csv(v) for k, v in value.items()}
        return value

    def resolved_database_url(self) -> str:
        """The database URL in force (SQLite under data_dir unless overridden)."""
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.data_dir / 'imagine.db').resolve()}"

    def resolved_output_dir(self) -> Path:
        """Directory of the local output store."""
        return self.output_dir or (self.data_dir / "outputs")

    def resolved_public_url(self) -> str:
        """Base URL for links handed to clients, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - only building a display URL
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"
