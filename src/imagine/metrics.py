"""Prometheus metrics, one registry per app (no global registry, no module-level state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The service's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.tasks = Counter(
            "imagine_tasks_total",
            "Edit requests by model and outcome (finished, failed, refused status)",
            ["model", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "imagine_task_seconds",
            "Wall time of admitted edit tasks",
            ["model", "outcome"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "imagine_tasks_in_flight", "Admitted tasks not yet ended", registry=self.registry
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
