"""Idempotency-Key: a retried request replays the first outcome instead of running twice."""
