"""Print the settings table for README.md from the Settings class (keeps the docs true)."""

from __future__ import annotations

import sys
from pathlib import Path

from imagine.settings import Settings


def table() -> str:
    """The Markdown settings table."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        shown = "" if default is None or default == [] or default == {} else str(default)
        lines.append(f"| `IMAGINE_{name.upper()}` | `{shown}` | {field.description or ''} |")
    return "\n".join(lines)


def main() -> None:
    """Print the table, or with --write README.md replace the table in that file."""
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        path = Path(sys.argv[2])
        text = path.read_text()
        start = text.index("| variable | default | meaning |")
        end = text.index("\n\n", start)
        path.write_text(text[:start] + table() + text[end:])
    else:
        print(table())


if __name__ == "__main__":
    main()
