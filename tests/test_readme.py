"""The README stays the truth: every setting is documented, the two commands exist."""

from __future__ import annotations

from pathlib import Path

from imagine.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"IMAGINE_{name.upper()}"
        for name in Settings.model_fields
        if f"`IMAGINE_{name.upper()}`" not in readme
    ]
    assert missing == [], f"document these in README.md (scripts/settings_table.py): {missing}"


def test_readme_commands_exist_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/serve" in readme
    assert "bash scripts/test" in readme
    assert (ROOT / "scripts" / "serve").exists()
    assert "bash scripts/test" in (ROOT / ".ci" / "run").read_text()
