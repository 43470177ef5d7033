"""Client commands (`imagine edit`, `imagine account`): the SDK against a running server.

Registered on the main `imagine` command by `register(app)`; also runnable alone as
`python -m imagine.client` (which imports no server code).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from imagine.client import inputs
from imagine.client.errors import AuthenticationError, ImagineError
from imagine.client.sync import Imagine
from imagine.client.types import Progress as Step
from imagine.terminal import printable

DEFAULT_URL = "http://127.0.0.1:8000"

_LABELS = {
    "upload": "uploading photo",
    "submit": "submitting",
    "staged": "queued",
    "pending": "queued",
    "starting": "starting",
    "processing": "processing",
    "finished": "finished",
    "failed": "failed",
    "download": "downloading",
}

UrlOption = Annotated[
    str, typer.Option("--url", envvar="IMAGINE_URL", help="Server base URL (IMAGINE_URL)")
]
KeyOption = Annotated[
    str | None,
    typer.Option("--key", envvar="IMAGINE_API_KEY", help="API key (IMAGINE_API_KEY)"),
]


class StageDisplay:
    """Shows the edit's stages: a live bar on a terminal, one line per change otherwise (so
    logs and pipes get a readable record)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._live = console.is_terminal
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._last: tuple[str, int | None] | None = None

    def __enter__(self) -> StageDisplay:
        if self._live:
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=self._console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("connecting", total=100)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, step: Step) -> None:
        """An SDK progress callback."""
        pct = step.percentage if step.stage in ("processing", "finished") else None
        self.show(_LABELS.get(step.stage, step.stage), pct)

    def show(self, label: str, pct: int | None = None, total: int | None = None) -> None:
        """One stage, with a percentage (or a byte count out of `total`)."""
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                description=label,
                completed=pct or 0,
                total=total if total is not None else 100,
            )
            return
        if total is not None:
            pct = None  # byte counts make no log line
        if (label, pct) == self._last:
            return
        self._last = (label, pct)
        text = label if pct is None else f"{label} {pct}%"
        self._console.print(text, markup=False, highlight=False)

    def note(self, text: str) -> None:
        """A line that stays (above the live bar on a terminal)."""
        self._console.print(printable(text), markup=False, highlight=False, soft_wrap=True)


def _fail(err: Console, message: object) -> typer.Exit:
    """One line on stderr; the command exits 1."""
    line = " ".join(printable(message).split())
    err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _client(url: str, key: str | None, err: Console) -> Imagine:
    if not key:
        raise _fail(err, "no API key: set IMAGINE_API_KEY or pass --key")
    try:
        return Imagine(url, key)
    except ValueError as exc:
        raise _fail(err, exc) from exc


def _default_output(photo: str, image_url: str, output_format: str | None) -> Path:
    """`<photo name>-edited.<ext>` in the current directory."""
    source = unquote(urlsplit(photo).path) if inputs.is_url(photo) else photo
    stem = Path(source).stem if not photo.startswith("data:") else "image"
    suffix = Path(urlsplit(image_url).path).suffix
    if not suffix:
        suffix = ".jpg" if output_format == "jpeg" else ".png"
    return Path(f"{stem or 'image'}-edited{suffix}")


def _explain(exc: ImagineError) -> str:
    if isinstance(exc, AuthenticationError):
        return f"{exc} (check IMAGINE_API_KEY or --key)"
    return str(exc)


def edit(
    photo: Annotated[str, typer.Argument(help="Image file, http(s) URL or data URI")],
    instruction: Annotated[str, typer.Argument(help='What to change, e.g. "make it night"')],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to save (default <photo>-edited.png)"),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="flux-kontext-max (default) or flux-kontext-pro")
    ] = None,
    ratio: Annotated[
        str | None, typer.Option("--ratio", help="Aspect ratio: 1:1 16:9 9:16 4:3 3:4 3:2 2:3 auto")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed, for repeatable edits")] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", help="png (default) or jpeg")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the edit")] = 600.0,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
) -> None:
    """Edit a photo on an imagine server and save the result."""
    err = Console(stderr=True)
    with _client(url, key, err) as client, StageDisplay(err) as display:
        try:
            result = client.edit(
                photo,
                instruction,
                model=model,
                aspect_ratio=ratio,
                seed=seed,
                output_format=output_format,
                on_progress=display,
                timeout=timeout,
            )
            for warning in result.warnings:
                display.note(f"warning: {warning}")
            target = output or _default_output(photo, result.image_url, output_format)
            display.show("downloading")
            saved = result.save(
                target,
                on_bytes=lambda done, total: display.show("downloading", done, total),
            )
        except ImagineError as exc:
            raise _fail(err, _explain(exc)) from exc
        except (OSError, ValueError) as exc:
            raise _fail(err, exc) from exc
        credits = "" if result.credits_used is None else f", {result.credits_used} credits"
        display.note(f"saved {saved} (task {result.task_id}{credits})")
    typer.echo(os.fspath(saved))


def account(url: UrlOption = DEFAULT_URL, key: KeyOption = None) -> None:
    """Show this key's account: credits (balance), plan, images made."""
    err = Console(stderr=True)
    with _client(url, key, err) as client:
        try:
            info = client.account()
        except ImagineError as exc:
            raise _fail(err, _explain(exc)) from exc
    typer.echo(f"email:    {printable(info.email)}")
    typer.echo(f"plan:     {printable(info.plan)}")
    typer.echo(f"credits:  {info.credits}")
    typer.echo(f"images:   {info.total_images}")


def register(app: typer.Typer) -> None:
    """Add the client commands to a Typer app."""
    app.command("edit")(edit)
    app.command("account")(account)


def main() -> None:
    """`python -m imagine.client`: the client commands alone."""
    app = typer.Typer(
        help="imagine client: edit photos on an imagine server.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
    )
    register(app)
    app()
