"""Alerts: per-map error thresholds that take an action, like Dual-write's alert settings.

``alerts = [{ errors = 10, minutes = 15, action = "pause" }]`` on a map: when the error
queue has received 10 or more errors for the map within the last 15 minutes, the map is
paused (its changes keep being captured into the journal) and an ``alert`` event is
logged; ``action = "log"`` only logs. ``status`` shows why a map was paused.
"""

from __future__ import annotations

import time

import structlog

from .config import Alert, Config
from .store import Store


def fired(alert: Alert, errors_in_window: int) -> bool:
    """Whether an alert's threshold is reached."""
    return errors_in_window >= alert.errors


class Alerts:
    """Evaluates every map's alerts against the error queue."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.last_fired: dict[tuple[str, int], float] = {}
        self.log = structlog.get_logger("replicator")

    async def check(self) -> list[str]:
        """Evaluate all alerts now; returns the maps paused by one."""
        paused = []
        now = time.time()
        states = await self.store.map_states()
        for m in self.config.maps:
            for i, alert in enumerate(m.alerts):
                window = alert.minutes * 60
                if now - self.last_fired.get((m.name, i), 0.0) < window:
                    continue
                count = await self.store.errors_since(m.name, now - window)
                if not fired(alert, count):
                    continue
                self.last_fired[(m.name, i)] = now
                already = states.get(m.name, (None, False, None))[1]
                await self.act(m.name, alert, count, already)
                if alert.action == "pause" and not already:
                    paused.append(m.name)
        return paused

    async def act(self, map_name: str, alert: Alert, count: int, already_paused: bool) -> None:
        reason = f"alert: {count} errors in {alert.minutes:g} minutes (threshold {alert.errors})"
        self.log.error(
            "alert",
            map=map_name,
            errors=count,
            minutes=alert.minutes,
            threshold=alert.errors,
            action=alert.action,
        )
        if alert.action == "pause" and not already_paused:
            await self.store.set_paused(map_name, True, reason)
