"""A steady load of single-row updates on fno, and the lag of each on crm.

Update k writes ``BASE + k`` into CreditLimit (a mapped field) of row ``k % rows``, in
its own transaction, at ``rate`` a second; its commit time is taken when the statement
returns. Every 5 ms, the observer reads crm on its own connection and takes the time
each new value arrives: lag = arrival - commit, known to about 5 ms (the poll interval
plus the read). It runs in a thread of its own, so a generator that falls behind (an
update waiting on fno's lock) never delays an observation, which would count as lag.
Once crm shows value j for a row, every update k <= j of that row has arrived (a later
value carries the earlier ones). Each poll reads only the values from the oldest one not
yet arrived on.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import _common as c

BASE = 1e9  # the values are BASE + update number: unique, above every seeded value
DRAIN_OK_S = 1.0  # a load not drained within this after its end fell behind
TICK_S = 10.0  # how often ``every`` is called during the load


@dataclass
class Lags:
    """What a steady load measured; times in seconds."""

    offered: float  # updates a second the generator achieved
    lags: list[float]  # of the updates that arrived, sorted
    missing: int  # never arrived before the drain deadline
    backlog: int  # not yet on crm when the load stopped
    peak_backlog: int  # the most updates not yet on crm at any poll
    drain_s: float | None  # from the end of the load to the last arrival (None: missing)
    middle_p50: float  # median lag of the updates of the load's middle third
    late_p50: float  # and of its last third

    @property
    def behind(self) -> bool:
        """Not drained within 1 s of the load's end, or the lag grew during it."""
        grew = self.late_p50 > 2 * self.middle_p50 + 0.02
        return self.drain_s is None or self.drain_s > DRAIN_OK_S or grew

    def quantile(self, q: float) -> float:
        return self.lags[max(0, math.ceil(q * len(self.lags)) - 1)] if self.lags else math.nan


@dataclass
class Steady:
    """Single-row updates of CreditLimit on fno at ``rate``/s, observed on crm."""

    fno: sqlite3.Connection
    crm: sqlite3.Connection
    rows: int
    rate: float
    seconds: float
    committed: list[float] = field(default_factory=list)
    arrived: list[float | None] = field(default_factory=list)
    pending: dict[int, deque[int]] = field(default_factory=dict)
    floor: int = 0  # every update before it has arrived
    seen: int = 0
    peak_backlog: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def update(self) -> None:
        k = len(self.committed)
        row = k % self.rows
        statement = "UPDATE CustomersV3 SET CreditLimit = ? WHERE RecId = ?"
        self.fno.execute(statement, (BASE + k, row + 1))
        now = time.perf_counter()
        with self.lock:
            self.committed.append(now)
            self.arrived.append(None)
            self.pending.setdefault(row, deque()).append(k)

    def observe(self) -> None:
        """One read of crm: the arrival of every value committed and newly there."""
        now = time.perf_counter()
        statement = "SELECT creditlimit FROM accounts WHERE creditlimit >= ?"
        values = self.crm.execute(statement, (BASE + self.floor,)).fetchall()
        with self.lock:
            for (value,) in values:
                j = int(value - BASE)
                queue = self.pending.get(j % self.rows, deque())
                while queue and queue[0] <= j:
                    self.arrived[queue.popleft()] = now
                    self.seen += 1
            while self.floor < len(self.committed) and self.arrived[self.floor] is not None:
                self.floor += 1
            self.peak_backlog = max(self.peak_backlog, len(self.committed) - self.seen)

    def observer(self, stop: threading.Event) -> None:
        """Observe every 5 ms until ``stop`` (a thread of its own: a load generator that
        falls behind never delays an observation)."""
        while not stop.wait(c.POLL_S):
            self.observe()

    def offer(self, every: Callable[[], None] | None = None) -> float:
        """Offer the load (and call ``every`` every 10 s); the perf_counter when it
        started."""
        total, started = int(self.rate * self.seconds), time.perf_counter()
        next_tick = started
        while len(self.committed) < total:
            due, now = started + len(self.committed) / self.rate, time.perf_counter()
            if now >= due:
                self.update()
            elif every is not None and now >= next_tick:
                every()
                next_tick += TICK_S
            else:
                time.sleep(due - now)
        return started

    def run(self, every: Callable[[], None] | None = None) -> Lags:
        stop = threading.Event()
        observer = threading.Thread(target=self.observer, args=(stop,), name="observer")
        observer.start()
        try:
            started = self.offer(every)
            ended, backlog = time.perf_counter(), len(self.committed) - self.seen
            deadline = ended + max(30.0, self.seconds)
            while self.seen < len(self.committed) and time.perf_counter() < deadline:
                time.sleep(c.POLL_S)
        finally:
            stop.set()
            observer.join()
        self.observe()
        return self.lags(started, ended, backlog)

    def lags(self, started: float, ended: float, backlog: int) -> Lags:
        done = [(t, a) for t, a in zip(self.committed, self.arrived, strict=True) if a is not None]
        missing = len(self.committed) - len(done)
        last = max((a for _, a in done), default=ended)
        middle, late = started + (ended - started) / 3, ended - (ended - started) / 3
        return Lags(
            offered=len(self.committed) / (ended - started),
            lags=sorted(a - t for t, a in done),
            missing=missing,
            backlog=backlog,
            peak_backlog=self.peak_backlog,
            drain_s=None if missing else max(0.0, last - ended),
            middle_p50=median([a - t for t, a in done if middle <= t < late]),
            late_p50=median([a - t for t, a in done if t >= late]),
        )


def median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2] if xs else math.nan


def steady(
    folder: Path, rows: int, rate: float, seconds: float, every: Callable[[], None] | None = None
) -> Lags:
    """The lags of a steady load on the sides in ``folder``."""
    with (
        closing(c.connect(folder / "fno.db")) as fno,
        closing(c.connect(folder / "crm.db", any_thread=True)) as crm,
    ):
        return Steady(fno, crm, rows, rate, seconds).run(every)
