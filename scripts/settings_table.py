"""Print the settings table for README.md from the Settings class (keeps the docs true)."""

from __future__ import annotations

from imagine.settings import Settings


def main() -> None:
    """Write the Markdown table to stdout."""
    print("| variable | default | meaning |")
    print("|---|---|---|")
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        shown = "" if default is None or default == [] or default == {} else str(default)
        print(f"| `IMAGINE_{name.upper()}` | `{shown}` | {field.description or ''} |")


if __name__ == "__main__":
    main()
