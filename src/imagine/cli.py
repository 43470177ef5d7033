"""The `imagine` command: serve, admin of accounts/credits/keys, sweeping."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, TypeVar

import typer
import uvicorn
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine import admin
from imagine.client.cli import register as register_client_commands
from imagine.clock import SystemClock
from imagine.db.engine import create_engine, session_factory
from imagine.db.existing import MissingDatabase, describe, open_existing
from imagine.db.migrate import upgrade
from imagine.gpu.cli import gpu_app
from imagine.logs import configure_logging, resolve_json
from imagine.settings import Settings
from imagine.terminal import markup_safe, printable

T = TypeVar("T")

# Typer's pretty tracebacks print every frame's locals by default: settings, keys, secrets.
app = typer.Typer(
    help="imagine: self-hostable image-editing API.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
accounts_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
credits_app = typer.Typer(help="Manage credits.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Inspect and resend webhooks.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(credits_app, name="credits")
app.add_typer(keys_app, name="keys")
app.add_typer(webhooks_app, name="webhooks")
register_client_commands(app)  # edit, account: the SDK against a running server
app.add_typer(gpu_app, name="gpu")


def _configure_logging(settings: Settings) -> None:
    """Logging for the long-running commands: JSON lines unless stderr is a terminal."""
    configure_logging(settings.log_level, json=resolve_json(settings.log_format))


def _with_db(
    settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    """Run `work` against a migrated database, then close it."""

    async def _run() -> T:
        engine = create_engine(settings.resolved_database_url())
        try:
            await upgrade(engine)
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(_run())


def _admin(
    settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    """Run an admin command's `work` on the existing database, never creating one.

    Names the database on stderr first (stdout stays the command's result: a key is its last
    line); a missing or unmigrated database, or an admin error, exits 1 with the reason.
    """
    url = settings.resolved_database_url()
    typer.echo(f"database: {printable(describe(url))}", err=True)

    async def _run() -> T:
        engine = await open_existing(url)
        try:
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(_run())
    except (admin.AdminError, MissingDatabase) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {markup_safe(exc)}", soft_wrap=True)
        raise typer.Exit(1) from exc


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (IMAGINE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (IMAGINE_PORT)")] = None,
) -> None:
    """Start the API (migrates the database; creates a first account on a fresh one)."""
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = Settings(**overrides)  # type: ignore[arg-type]
    _configure_logging(settings)
    clock = SystemClock()

    async def _bootstrap(s: async_sessionmaker[AsyncSession]) -> tuple[str | None, str | None]:
        key = await admin.ensure_bootstrap_account(
            s, clock, email=settings.bootstrap_email, credits=settings.bootstrap_credits
        )
        if key is not None:
            return key, None
        return None, await admin.key_hint_email(s, bootstrap_email=settings.bootstrap_email)

    key, existing_email = _with_db(settings, _bootstrap)
    console = Console()
    console.print(
        f"database: {printable(describe(settings.resolved_database_url()))}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    if key is not None:
        _hand_over_bootstrap_key(console, settings, key)
    elif existing_email is not None:
        console.print(
            "Accounts exist already: no key is shown. For a new API key:"
            f" {_cli_name()} keys create --email {printable(existing_email)}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    console.print(f"imagine listening on {settings.resolved_public_url()}")
    from imagine.app import create_app
    from imagine.heap import settle_heap
    from imagine.server import server_config

    app = create_app(settings, on_started=settle_heap)
    uvicorn.Server(server_config(app, settings)).run()


def _cli_name() -> str:
    """How this process was started, for a command the user can paste (`.venv/bin/imagine`
    under scripts/serve), else plain `imagine`."""
    started = sys.argv[0] if sys.argv else ""
    return started if os.path.basename(started) == "imagine" else "imagine"


def _hand_over_bootstrap_key(console: Console, settings: Settings, key: str) -> None:
    """Show the first key on a terminal; never write it into a log stream.

    When stdout is not a terminal (a service manager or log collector reads it), the key goes
    to a file only its owner can read, and the output names the file instead.
    """
    created = (
        f"Created account [bold]{printable(settings.bootstrap_email)}[/bold] with"
        f" {settings.bootstrap_credits} credits."
    )
    if sys.stdout.isatty():
        console.print(f"{created} Its API key (shown once):")
        console.print(key, soft_wrap=True, highlight=False)
        return
    path = settings.data_dir / "bootstrap-key.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh file only its owner can read: never reuse (or follow) what is at that path.
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    console.print(
        f"{created} Its API key is in {printable(str(path))} (readable by this user only; not"
        " printed because stdout is not a terminal). Store it, then delete the file.",
        soft_wrap=True,
    )


@accounts_app.command("create")
def accounts_create(
    email: Annotated[str, typer.Option(help="Account email")],
    credits: Annotated[int, typer.Option(help="Initial credits")] = 0,
    plan: Annotated[str, typer.Option(help="basic | starter | growth")] = "basic",
) -> None:
    """Create an account; prints its API key as the last line."""
    settings = Settings()
    key = _admin(
        settings,
        lambda s: admin.create_account(s, SystemClock(), email=email, credits=credits, plan=plan),
    )
    typer.echo(f"Created account {printable(email)} ({plan}, {credits} credits). API key:")
    typer.echo(key)


@accounts_app.command("show")
def accounts_show(email: Annotated[str, typer.Option(help="Account email")]) -> None:
    """Show an account's plan, balance and ledger sum."""
    summary = _admin(Settings(), lambda s: admin.show_account(s, email=email))
    typer.echo(f"id:       {summary.id}")
    typer.echo(f"email:    {printable(summary.email)}")
    typer.echo(f"plan:     {summary.plan}")
    typer.echo(f"credits:  {summary.credits}")
    typer.echo(f"ledger:   {summary.ledger_sum}")
    typer.echo(f"webhook signing secret: {summary.signing_secret}")


# A negative amount ("-20") is an argument, not an unknown option.
@credits_app.command("add", context_settings={"ignore_unknown_options": True})
def credits_add(
    amount: Annotated[int, typer.Argument(help="Credits to add (negative to remove)")],
    email: Annotated[str, typer.Option(help="Account email")],
) -> None:
    """Add credits to an account (a ledger row)."""
    balance = _admin(
        Settings(), lambda s: admin.add_credits(s, SystemClock(), email=email, amount=amount)
    )
    typer.echo(f"{printable(email)}: balance {balance}")


@keys_app.command("create")
def keys_create(email: Annotated[str, typer.Option(help="Account email")]) -> None:
    """Issue another API key for an account; prints it as the last line."""
    key = _admin(Settings(), lambda s: admin.new_key(s, SystemClock(), email=email))
    typer.echo(key)


@keys_app.command("list")
def keys_list(email: Annotated[str, typer.Option(help="Account email")]) -> None:
    """An account's keys: id, shown prefix, created, revoked (never the key itself)."""
    found = _admin(Settings(), lambda s: admin.list_keys(s, email=email))
    for key in found:
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "active"
        typer.echo(
            f"{key.id}  {printable(key.prefix)}…  {key.created_at.isoformat(timespec='seconds')}"
            f"  {revoked}"
        )


@keys_app.command("revoke")
def keys_revoke(
    selector: Annotated[
        str,
        typer.Argument(help="Key id (imagine keys list), the whole key, or a unique prefix"),
    ],
) -> None:
    """Revoke exactly one API key; a prefix shared by several keys revokes nothing."""
    key = _admin(Settings(), lambda s: admin.revoke_key(s, SystemClock(), selector=selector))
    typer.echo(f"revoked 1 key(s): {key.id} ({printable(key.prefix)}…)")


@app.command()
def sweep(
    orphan_grace: Annotated[
        float | None,
        typer.Option(
            help="Seconds an object without a row must be old before it is deleted"
            " (default: IMAGINE_ORPHAN_GRACE); 0 only when nothing else is running"
        ),
    ] = None,
) -> None:
    """Delete expired outputs' bytes and orphaned objects now (the server also does this in
    the background)."""
    from imagine.services import build_services
    from imagine.storage.orphans import sweep_orphans
    from imagine.storage.sweeper import sweep_expired

    settings = Settings()
    # Like the admin commands: only serve/worker create and migrate a database.
    _admin(settings, lambda _s: asyncio.sleep(0))

    grace = settings.orphan_grace if orphan_grace is None else timedelta(seconds=orphan_grace)

    async def _run() -> tuple[int, int]:
        services = build_services(settings)
        try:
            expired = await sweep_expired(services.sessions, services.store, services.clock)
            orphans = await sweep_orphans(
                services.sessions, services.store, services.clock, grace, services.object_owners
            )
            return expired, orphans
        finally:
            await services.close()

    expired, orphans = asyncio.run(_run())
    typer.echo(f"deleted {expired} expired output(s) and {orphans} orphaned object(s)")


@app.command()
def worker() -> None:
    """Deliver webhooks and sweep, without serving HTTP (run several on one database)."""
    from imagine.background import run_worker
    from imagine.services import build_services

    settings = Settings()
    _configure_logging(settings)
    asyncio.run(run_worker(build_services(settings)))


@app.command()
def providers() -> None:
    """Each hosted provider: key set?, reachable?, balance (BFL credits). Informational."""
    from imagine.engines.readiness import ProviderReadiness, ProviderState
    from imagine.engines.registry import HOSTED
    from imagine.fetch.client import build_outbound_clients

    settings = Settings()
    _configure_logging(settings)

    async def _run() -> list[ProviderState]:
        clients = build_outbound_clients(settings)
        try:
            readiness = ProviderReadiness(
                settings, list(HOSTED.values()), clients.provider, SystemClock()
            )
            return await readiness.states()
        finally:
            await clients.aclose()

    for state in asyncio.run(_run()):
        reachable = {True: "yes", False: "NO", None: "-"}[state.reachable]
        balance = "-" if state.balance is None else f"{state.balance:g}"
        key = "set" if state.configured else "not set"
        typer.echo(
            f"{state.name:<10} key {key:<8} reachable {reachable:<4} balance {balance:<10}"
            f" {printable(state.note)}"
        )


@webhooks_app.command("list")
def webhooks_list(
    failed: Annotated[bool, typer.Option("--failed", help="Only deliveries that gave up")] = False,
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 50,
) -> None:
    """List webhook deliveries, newest first."""
    from imagine.webhooks import admin as webhooks_admin

    lines = _admin(
        Settings(), lambda s: webhooks_admin.list_deliveries(s, failed_only=failed, limit=limit)
    )
    for d in lines:
        # every stored value is escaped: a client's webhook URL must not forge a line
        code = d.last_status_code if d.last_status_code is not None else "-"
        error = f"  ({printable(d.last_error)})" if d.last_error and d.status != "delivered" else ""
        typer.echo(
            f"{printable(d.id)}  task {printable(d.task_id)}  {printable(d.status):<9}"
            f" attempts {d.attempts}  last {code}"
            f"  next {d.next_attempt_at.isoformat(timespec='seconds')}  {printable(d.url)}{error}"
        )
    if not lines:
        typer.echo("no webhook deliveries")


@webhooks_app.command("redeliver")
def webhooks_redeliver(
    ref: Annotated[str, typer.Argument(help="Delivery id (msg_…) or task id")],
) -> None:
    """Send a delivery again now, with a fresh retry budget (same webhook-id)."""
    from imagine.webhooks import admin as webhooks_admin

    delivery_id = _admin(Settings(), lambda s: webhooks_admin.redeliver(s, SystemClock(), ref=ref))
    typer.echo(f"{delivery_id} queued for delivery")


@webhooks_app.command("rotate-secret")
def webhooks_rotate_secret(
    email: Annotated[str, typer.Option(help="Account email")],
    grace: Annotated[
        str, typer.Option(help="How long the old secret also signs, e.g. 24h, 30m, 0")
    ] = "24h",
) -> None:
    """Give an account a new signing secret; prints it as the last line."""
    from imagine.webhooks import admin as webhooks_admin

    secret = _admin(
        Settings(),
        lambda s: webhooks_admin.rotate_secret(
            s, SystemClock(), email=email, grace=webhooks_admin.parse_duration(grace)
        ),
    )
    typer.echo(
        f"New signing secret for {printable(email)}"
        f" (the old one also signs for {printable(grace)}):"
    )
    typer.echo(secret)


def main() -> None:
    """Console-script entry point."""
    app()
