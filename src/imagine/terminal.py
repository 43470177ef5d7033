"""Values from clients and the database, made safe to print on an operator's terminal."""

from __future__ import annotations

from rich.markup import escape


def printable(value: object) -> str:
    """`value` as text with every non-printable character escaped Python-style (`\\n`,
    `\\x1b`, `\\u202e`): a stored webhook URL or error cannot start a forged line, move the
    cursor, recolour the terminal or reorder text. Printable text (accents included) is kept."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def markup_safe(value: object) -> str:
    """`printable(value)`, also escaped for rich markup (no `[red]` from a stored value)."""
    return escape(printable(value))
