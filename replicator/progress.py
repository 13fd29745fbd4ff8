"""Progress of an initial sync: a bar per map on a terminal, a summary table at the end."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import structlog

from .sync.writes import SyncReport


class TerminalProgress:
    """A one-line counter per map (rows, rate; a bar and an ETA when the total is known),
    redrawn in place."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out
        self.map = ""
        self.total: int | None = None
        self.done = 0
        self.started = 0.0

    def start(self, map_name: str, total: int | None) -> None:
        self.map, self.total, self.started = map_name, total, time.monotonic()
        self.advance(0)

    def advance(self, done: int) -> None:
        self.done = done
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed
        if self.total is None:
            self.out.write(f"\r{self.map:<20} {done:>9} rows {rate:>9.0f} rows/s")
            self.out.flush()
            return
        eta = (self.total - done) / rate if rate > 0 else 0.0
        width = 30
        filled = width * done // self.total if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        self.out.write(
            f"\r{self.map:<20} [{bar}] {done:>8}/{self.total:<8} "
            f"{rate:>9.0f} rows/s  ETA {eta:5.0f}s"
        )
        self.out.flush()

    def finish(self, report: SyncReport) -> None:
        self.advance(self.done if self.total is None else self.total)
        self.out.write("\n")


class LogProgress:
    """Plain structured log lines, for when stderr is not a terminal."""

    def __init__(self) -> None:
        self.log = structlog.get_logger("replicator")
        self.map = ""
        self.total: int | None = None
        self.last = 0.0

    def start(self, map_name: str, total: int | None) -> None:
        self.map, self.total, self.last = map_name, total, time.monotonic()
        self.log.info("initial_sync_started", map=map_name, keys=total)

    def advance(self, done: int) -> None:
        if time.monotonic() - self.last >= 2.0:
            self.last = time.monotonic()
            self.log.info("initial_sync_progress", map=self.map, done=done, total=self.total)

    def finish(self, report: SyncReport) -> None:
        return None


def summary_table(reports: list[SyncReport], sides: list[str]) -> str:
    """The end-of-sync summary, one row per map."""
    a, b = sides
    head = [
        "map",
        f"rows {a}",
        f"rows {b}",
        "linked",
        f"created {a}",
        f"created {b}",
        f"updated {a}",
        f"updated {b}",
        "parked",
        "errors",
        "seconds",
    ]
    rows = [
        [
            r.map,
            r.rows[0],
            r.rows[1],
            r.linked,
            r.created[0],
            r.created[1],
            r.updated[0],
            r.updated[1],
            r.parked,
            r.errors,
            r.seconds,
        ]
        for r in reports
    ]
    return format_table(head, rows)


def format_table(head: list[str], rows: list[list[object]]) -> str:
    """A plain text table with aligned columns."""
    cells = [head] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
