"""The offline engine: deterministic classical edits, no weights, no network."""
