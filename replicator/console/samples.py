"""What the console remembers for its charts: per map, one sample a minute for the last hour.

A ``Minute`` holds the changes handled in that minute and the largest lag seen in it.
The console feeds it from what it hears and reads anyway: each change event of the
engine (``Samples.on_change``: a change counted, its read-to-commit time a lag), and each
status it answers (every map's lag: the age of its oldest change not yet applied). So it
needs no task of its own, and it forgets what is older than an hour. Pure: tests give it
the events and times.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import msgspec

from ..observe import ChangeEvent, ObservedOutcome

WINDOW_MINUTES = 60
COUNTED: frozenset[ObservedOutcome] = frozenset(
    {"applied", "conflict", "noop", "refused", "error", "parked"}
)
"""The outcomes that are a change handled: not our own echo, not a retry to come, not a
row outside the map's filter."""


class Minute(msgspec.Struct, kw_only=True):
    """One minute of one map: its start (epoch seconds), changes, and the largest lag."""

    start: float
    changes: int = 0
    lag_s: float | None = None


class Series:
    """The last hour of one map, one ``Minute`` per minute that saw a sample."""

    def __init__(self) -> None:
        self.minutes: deque[Minute] = deque(maxlen=WINDOW_MINUTES)

    def _minute(self, at: float) -> Minute:
        start = at - at % 60
        if self.minutes and self.minutes[-1].start == start:
            return self.minutes[-1]
        if self.minutes and self.minutes[-1].start > start:  # late: find its minute
            for m in self.minutes:
                if m.start == start:
                    return m
            return Minute(start=start)  # older than what is kept: counted nowhere
        minute = Minute(start=start)
        self.minutes.append(minute)
        return minute

    def lag(self, at: float, lag_s: float) -> None:
        minute = self._minute(at)
        minute.lag_s = lag_s if minute.lag_s is None else max(minute.lag_s, lag_s)

    def changes(self, at: float, n: int = 1) -> None:
        self._minute(at).changes += n

    def last_hour(self, now: float) -> list[Minute]:
        """The minutes of the hour before ``now``, oldest first (minutes with no sample
        are absent)."""
        since = now - WINDOW_MINUTES * 60
        return [m for m in self.minutes if m.start > since - 60]


class Samples:
    """The series of every map, created on first sample."""

    def __init__(self) -> None:
        self.series: dict[str, Series] = {}

    def of(self, map_name: str) -> Series:
        return self.series.setdefault(map_name, Series())

    def record_status(self, maps: Iterable[dict[str, object]], at: float) -> None:
        """Every map's lag from a status (``Operations.status()["maps"]``) read at ``at``."""
        for m in maps:
            lag = m.get("lag_s")
            if isinstance(lag, int | float):
                self.of(str(m["map"])).lag(at, float(lag))

    def on_change(self, event: ChangeEvent) -> None:
        """A change event (an ``Observers`` listener: it returns at once)."""
        if event.outcome not in COUNTED:
            return
        at = event.committed_at or event.read_at
        series = self.of(event.map)
        series.changes(at)
        if event.latency_s is not None:
            series.lag(at, event.latency_s)
