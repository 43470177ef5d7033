"""Webhook delivery: the outbox written with a task's final state, signed at-least-once sends."""
