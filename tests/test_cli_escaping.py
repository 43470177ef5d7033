"""Admin commands print stored, client-supplied values escaped: no forged lines or colours."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from imagine.cli import app
from imagine.terminal import markup_safe, printable
from tests.support import create_database, run
from tests.webhooks.helpers import queue_failed_task_events

# a webhook URL stored before validation refused such URLs, crafted to fake a second row
FORGED = "delivered  last 200  next 2026-01-01T00:00:00  http://ok.example/"
HOOK = f"http://127.0.0.1:9/hook\nmsg_forged  task t  {FORGED}\x1b[2J\u202e"


def test_printable_escapes_only_what_a_terminal_would_act_on() -> None:
    assert printable("émile@x.org  ok") == "émile@x.org  ok"
    assert printable("a\nb\r\x1b[31mc\u202ed\u2028") == "a\\nb\\r\\x1b[31mc\\u202ed\\u2028"
    assert markup_safe("[red]x[/red]\n") == "\\[red]x\\[/red]\\n"


def test_webhooks_list_prints_one_line_per_delivery(tmp_path: Path, database_url: str) -> None:
    [delivery] = run(queue_failed_task_events(database_url, HOOK, 1))
    env = {"IMAGINE_DATABASE_URL": database_url, "IMAGINE_DATA_DIR": str(tmp_path / "data")}
    listed = CliRunner().invoke(app, ["webhooks", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(delivery)
    assert "\x1b" not in listed.stdout and "\u202e" not in listed.stdout
    assert "/hook\\nmsg_forged" in lines[0] and "\\x1b[2J\\u202e" in lines[0]


def test_admin_errors_print_the_email_escaped(tmp_path: Path, database_url: str) -> None:
    create_database(database_url)  # what the first `imagine serve` does
    env = {"IMAGINE_DATABASE_URL": database_url, "IMAGINE_DATA_DIR": str(tmp_path / "data")}
    shown = CliRunner().invoke(
        app, ["accounts", "show", "--email", "x\n[bold]error:[/bold] y@z\x1b[0m"], env=env
    )
    assert shown.exit_code == 1
    # stderr: the database in use, then the error on one line (no forged second line)
    assert "\x1b[0m" not in shown.stderr and len(shown.stderr.strip().splitlines()) == 2
    assert shown.stderr.startswith("database: ")
    assert "x\\n[bold]error:[/bold] y@z\\x1b[0m" in shown.stderr
