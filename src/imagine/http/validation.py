"""Turn pydantic/FastAPI validation errors into the contract's one-message-per-problem list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "list_type": "an array",
    "bool_type": "a boolean",
    "float_type": "a number",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    # task_ids.3 → task_ids[3]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() and out else (f".{part}" if out else part)
    return out


def messages_for(errors: Sequence[Any], *, json_body: bool = True) -> list[str]:
    """One readable message per problem, naming the field."""
    messages: list[str] = []
    for err in errors:
        kind = str(err.get("type", ""))
        loc = err.get("loc", ())
        field = _field(loc)
        if kind == "json_invalid":
            msg = "request body is not valid JSON"
        elif not field and not json_body and err.get("input"):
            # The body was not parsed as JSON because the content type did not say so.
            msg = "request body must be a JSON object (send Content-Type: application/json)"
        elif (kind == "missing" and not field) or not field:
            msg = "request body must be a JSON object"
        elif kind == "missing":
            msg = f"{field} is required"
        elif kind in _TYPE_NAMES:
            msg = f"{field} must be {_TYPE_NAMES[kind]}"
        elif loc and loc[0] == "header":
            continue
        else:
            msg = f"{field} is invalid"
        if msg not in messages:
            messages.append(msg)
    return messages or ["request is invalid"]
