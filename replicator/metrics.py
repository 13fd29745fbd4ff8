"""Metrics: one engine's Prometheus metrics, kept in a registry of its own.

Counters and the latency histogram listen to the engine's ``Observers`` (observe.py):
a change costs one dictionary look-up and an increment. Gauges are set from the
engine's status at scrape time, so they never go stale between scrapes. Every engine
has its own ``CollectorRegistry`` (never the process-wide one), so two engines in one
process do not clash; the text is prometheus-client's own ``generate_latest``.

::

    replicator_changes_total{map,side,outcome}     counter: what became of each change
    replicator_throttled_total{side}               counter: 429s waited out
    replicator_throttled_seconds_total{side}       counter: seconds waited for them
    replicator_change_latency_seconds{map}         histogram: read to commit, written changes
    replicator_backlog{map}                        gauge: changes journaled, not yet done
    replicator_parked{map}                         gauge: records waiting for a lookup
    replicator_open_errors{map}                    gauge: entries in the error queue
    replicator_lag_seconds{map}                    gauge: age of the oldest change not done
    replicator_links{map}                          gauge: linked record pairs
    replicator_side_up{side}                       gauge: 1 when the side answers, else 0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .config import Config
from .observe import OUTCOMES, ChangeEvent, Observers

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text format's media type (what ``generate_latest`` writes)."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
"""Seconds; replication is meant to take milliseconds, an outage minutes."""

WRITTEN = frozenset({"applied", "conflict"})
"""The outcomes the latency histogram measures: changes written to the other side."""

MAP_GAUGES = {
    "backlog": ("replicator_backlog", "Changes journaled and not yet done, per map."),
    "parked": ("replicator_parked", "Records waiting for a record they refer to, per map."),
    "errors": ("replicator_open_errors", "Entries in the error queue, per map."),
    "lag_s": (
        "replicator_lag_seconds",
        "Age of the oldest change not yet done, per map (0 when there is none).",
    ),
    "links": ("replicator_links", "Linked record pairs, per map."),
}
"""Status field -> (metric name, help) of the per-map gauges."""


class Metrics:
    """The metrics of one engine; ``render(status)`` is the scrape."""

    def __init__(self, config: Config, observers: Observers) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._changes = Counter(
            "replicator_changes",
            "Changes by what became of them, per map and the side they came from.",
            ["map", "side", "outcome"],
            registry=self.registry,
        )
        self._throttled = Counter(
            "replicator_throttled",
            "Throttling answers (HTTP 429) a side waited out.",
            ["side"],
            registry=self.registry,
        )
        self._throttled_s = Counter(
            "replicator_throttled_seconds",
            "Seconds a side waited for throttling answers (HTTP 429).",
            ["side"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "replicator_change_latency_seconds",
            "Seconds from a change being read to its write being committed, per map.",
            ["map"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._gauges = {
            field: Gauge(name, doc, ["map"], registry=self.registry)
            for field, (name, doc) in MAP_GAUGES.items()
        }
        self._side_up = Gauge(
            "replicator_side_up",
            "1 while the side answers, 0 while it is unreachable.",
            ["side"],
            registry=self.registry,
        )
        self._sides = [s.name for s in config.sides]
        self._maps = [m.name for m in config.maps]
        self._children = {  # every series from the start at 0: rate() and alerts see them
            (m, s, o): self._changes.labels(m, s, o)
            for m in self._maps
            for s in self._sides
            for o in OUTCOMES
        }
        for side in self._sides:
            self._throttled.labels(side)
            self._throttled_s.labels(side)
        for m in self._maps:
            self._latency.labels(m)
        observers.subscribe(self.changed, on_throttle=self.throttled)

    def changed(self, event: ChangeEvent) -> None:
        """Count one change (a listener of ``Observers``)."""
        key = (event.map, event.side, event.outcome)
        child = self._children.get(key)
        if child is None:  # a map added by a reload
            child = self._children[key] = self._changes.labels(*key)
        child.inc()
        if event.outcome in WRITTEN and (latency := event.latency_s) is not None:
            self._latency.labels(event.map).observe(max(latency, 0.0))

    def throttled(self, side: str, wait_s: float) -> None:
        """Count one 429 waited out (a listener of ``Observers``)."""
        self._throttled.labels(side).inc()
        self._throttled_s.labels(side).inc(max(wait_s, 0.0))

    def render(self, status: Mapping[str, Any]) -> bytes:
        """The Prometheus text, gauges from ``status`` (the shape ``Replicator.status()``
        and ``Operations.status()`` give: ``maps`` and ``outages`` by side name)."""
        for field, gauge in self._gauges.items():
            gauge.clear()  # a map a reload removed has no series any more
            for entry in status["maps"]:
                gauge.labels(entry["map"]).set(float(entry.get(field) or 0))
        down = status.get("outages", {})
        for side in self._sides:
            self._side_up.labels(side).set(0.0 if side in down else 1.0)
        return generate_latest(self.registry)
