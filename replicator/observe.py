"""Observe: what the engine decides about each change, fanned out to whoever listens.

The engine owns one ``Observers``. Where a change's outcome is decided (the record
actor, the router) it calls ``Observers.change`` with a ``ChangeEvent``; a side that
waits out throttling (a 429) reports it through ``Observers.throttled``. Listeners are
plain synchronous callables: the metrics' counters (metrics.py) and the console's
``Activity`` ring buffer below. They run inside the engine's tasks, so they must never
block or await; the cost of observing a change is the calls to its listeners.

::

    rep.observers.subscribe(lambda event: print(event.map, event.outcome))
    rep.activity.recent(20, map="customers")   # the last 20 events of one map

(``Activity`` here is the recent changes, for people; ``replicator.activity`` counts
what is in flight, for a drain.)
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Literal

import msgspec
import structlog

from .model import JournalEntry, Outcome

log = structlog.get_logger("replicator")

ObservedOutcome = Literal[
    "applied", "echo", "noop", "conflict", "refused", "error", "retry", "parked", "filtered"
]
"""What became of one change: ``applied`` (written to the other side), ``echo`` (our own
write coming back, dropped), ``noop`` (nothing to write), ``conflict`` (both sides had
changed it; the policy decided and it was written), ``refused`` (a rule said no: error
queue), ``error`` (failed: error queue), ``retry`` (failed for now, tried again later),
``parked`` (waits for a record it refers to), ``filtered`` (not in the map's filter)."""

OUTCOMES: tuple[ObservedOutcome, ...] = (
    "applied",
    "echo",
    "noop",
    "conflict",
    "refused",
    "error",
    "retry",
    "parked",
    "filtered",
)

ACTIVITY_SIZE = 500


class ChangeEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One change's outcome, as the engine decided it."""

    map: str
    side: str
    """The side the change came from."""
    key: str | None
    """The record's integration key (encoded), None when not known (e.g. an echo)."""
    outcome: ObservedOutcome
    read_at: float
    """When the change was read from its side (epoch seconds)."""
    committed_at: float | None
    """When its outcome was committed (epoch seconds); None for a ``retry``."""
    change_id: int
    """The journal id of the change."""
    op: str = "upsert"
    reason: str = ""

    @property
    def latency_s(self) -> float | None:
        """Seconds from read to commit, None if not committed."""
        return None if self.committed_at is None else self.committed_at - self.read_at


_OBSERVED: dict[Outcome, ObservedOutcome | None] = {
    "applied": "applied",
    "echo": "echo",
    "noop": "noop",
    "parked": "parked",
    "conflict": "conflict",
    "rejected": "refused",
    "error": "error",
    "filtered": "filtered",
    "requeued": None,  # handed back to the router: its outcome comes later
}


def observed(outcome: Outcome) -> ObservedOutcome | None:
    """The observed outcome of an engine outcome (None: not an outcome yet, e.g. requeued)."""
    return _OBSERVED[outcome]


ChangeListener = Callable[[ChangeEvent], None]
ThrottleListener = Callable[[str, float], None]
"""Called with the side's name and the seconds it waits."""


class Observers:
    """The listeners of one engine. ``subscribe`` returns the function that unsubscribes."""

    def __init__(self) -> None:
        self._changes: list[ChangeListener] = []
        self._throttles: list[ThrottleListener] = []

    def subscribe(
        self,
        on_change: ChangeListener | None = None,
        *,
        on_throttle: ThrottleListener | None = None,
    ) -> Callable[[], None]:
        """Call ``on_change`` for every change event and ``on_throttle`` for every 429
        waited. Both must return at once (no I/O, no blocking)."""
        if on_change is not None:
            self._changes.append(on_change)
        if on_throttle is not None:
            self._throttles.append(on_throttle)

        def unsubscribe() -> None:
            if on_change in self._changes:
                self._changes.remove(on_change)
            if on_throttle in self._throttles:
                self._throttles.remove(on_throttle)

        return unsubscribe

    def change(self, event: ChangeEvent) -> None:
        """Tell every listener about ``event``; a listener that raises is logged, not fatal."""
        for listener in self._changes:
            try:
                listener(event)
            except Exception as exc:  # an observer's bug must not stop replication
                log.error("observer_failed", listener=repr(listener), error=repr(exc))

    def decided(
        self, entry: JournalEntry, side: str, key: str | None, outcome: Outcome, reason: str = ""
    ) -> None:
        """A change's outcome is committed (nothing is told for a change handed back)."""
        if (seen := _OBSERVED[outcome]) is not None:
            self.change(_event(entry, side, key, seen, reason, time.time()))

    def retrying(self, entry: JournalEntry, side: str, key: str | None, reason: str) -> None:
        """A change failed for now and will be tried again."""
        self.change(_event(entry, side, key, "retry", reason, None))

    def throttled(self, side: str, wait_s: float) -> None:
        """Tell every listener that ``side`` waits ``wait_s`` seconds for a 429."""
        for listener in self._throttles:
            try:
                listener(side, wait_s)
            except Exception as exc:
                log.error("observer_failed", listener=repr(listener), error=repr(exc))


def _event(
    entry: JournalEntry,
    side: str,
    key: str | None,
    outcome: ObservedOutcome,
    reason: str,
    committed_at: float | None,
) -> ChangeEvent:
    return ChangeEvent(
        map=entry.map,
        side=side,
        key=key,
        outcome=outcome,
        read_at=entry.received_at,
        committed_at=committed_at,
        change_id=entry.id,
        op=entry.change.op,
        reason=reason,
    )


class Activity:
    """The last ``size`` change events, newest last, for the console's live page."""

    def __init__(self, size: int = ACTIVITY_SIZE) -> None:
        if size < 1:
            raise ValueError(f"Activity size must be at least 1, not {size}")
        self._events: deque[ChangeEvent] = deque(maxlen=size)
        self.seen = 0
        """Events received in all (a page can tell whether anything new arrived)."""

    def __call__(self, event: ChangeEvent) -> None:
        self._events.append(event)
        self.seen += 1

    def recent(self, limit: int = ACTIVITY_SIZE, map: str | None = None) -> list[ChangeEvent]:
        """Up to ``limit`` most recent events (of ``map`` only, if given), newest first."""
        if limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}")
        out: list[ChangeEvent] = []
        for event in reversed(self._events):
            if len(out) >= limit:
                break
            if map is None or event.map == map:
                out.append(event)
        return out
