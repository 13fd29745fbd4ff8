"""Live benchmark on two SQLite files: the replicator beside a raw batched copy and beside
the naive poll-and-diff script (bench/naive_sync.py), all in one run.

    python bench/live.py [--rows N] [--phases sync,insert,update,steady]
                         [--rate 1000 --seconds 10] [--rss ROWS] [--soak MINUTES]

Every phase is a separate measurement on fresh files (customers, 6 fields a side):

* ``sync``: initial sync of N rows to an empty side. The replicator's time is that of
  its ``sync()`` call in a process of its own (bench/_sync_once.py), the naive script's
  that of its first pass, as each measures it; the raw copy is ``executemany`` upserts,
  1,000 rows a transaction, same pragmas (bench/_common.py).
* ``insert``: N rows inserted on fno (1,000 a transaction, as fast as they go) while the
  daemon (``replicator run``, a child process) runs: from the first insert until the
  last row is on crm and, for the replicator, linked in its state store.
* ``update``: 2N rows, on both sides and linked, each updated once on fno (1,000 a
  transaction): from the first update until the last new value is on crm.
* ``steady``: single-row updates on fno at ``--rate`` a second for ``--seconds``, each
  its own transaction, writing a fresh value into CreditLimit (a mapped field). An
  observer on crm sees the values arrive: lag = arrival on crm - commit on fno, as p50,
  p99 and max; the backlog when the load stops, the time to drain it, and whether the
  lag grew (falling behind: the last second's median lag above twice the second
  second's plus 20 ms, or not drained).
* ``--rss ROWS``: peak RSS (``ru_maxrss``) of the initial sync of ROWS rows, and of
  the naive script's first pass of the same rows (its VmHWM).
* ``--soak MINUTES``: the ``steady`` load for MINUTES; the daemon's RSS every 10 s
  (first, last, max) and the lag.

The observer and the load generator run in this process, the daemon and the naive
script in their own; the observer reads crm on its own connection every 5 ms (WAL: it
never blocks a writer), so lags are known to about 5 ms. Figures are noisy on a shared
machine: compare ratios within one run, not absolute rates between runs.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import _common as c

READY_S = 600.0  # a start (with its initial sync) or a phase that takes longer: failed
SETTLE_S = 0.05
BASE = 1e9  # steady values are BASE + update number: unique, above every seeded value
PHASES = ("sync", "insert", "update", "steady")


@dataclass
class Line:
    """One row of the final table."""

    phase: str
    replicator: str
    raw: str = ""
    ratio: str = ""
    naive: str = ""
    vs_naive: str = ""


def rates(phase: str, rows: int, replicator_s: float, raw_s: float, naive_s: float) -> Line:
    rep, raw, naive = rows / replicator_s, rows / raw_s, rows / naive_s
    return Line(
        phase, f"{rep:,.0f}/s", f"{raw:,.0f}/s", f"{rep / raw:.3f}", f"{naive:,.0f}/s",
        f"{rep / naive:.2f}x",
    )  # fmt: skip


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- starting what is measured -------------------------------------------------------------


def live(state: Path, child: c.Child) -> bool:
    """Whether the daemon runs live: its heartbeat is in the state store."""
    child.check_running()
    if not state.exists():
        return False
    with closing(sqlite3.connect(state, timeout=30)) as st:
        beat = c.scalar(st, "SELECT value FROM meta WHERE key = 'heartbeat'")
    return beat not in (None, "0")


def quiet(folder: Path) -> bool:
    """Whether the daemon has read every change of both sides and finished them all."""
    heads = []
    for side in ("fno", "crm"):
        with closing(c.connect(folder / f"{side}.db")) as db:
            seq = "SELECT seq FROM sqlite_sequence WHERE name = '_replicator_changes'"
            heads.append(int(c.scalar(db, seq) or 0))
    with closing(sqlite3.connect(folder / "state.db", timeout=30)) as st:
        cursors = dict(st.execute("SELECT side, cursor FROM cursors").fetchall())
        journal = c.scalar(st, "SELECT count(*) FROM journal")
    read = [int(cursors.get(i) or 0) for i in range(len(heads))]
    return journal == 0 and read == heads


@contextmanager
def replicator(folder: Path) -> Iterator[c.Child]:
    """The daemon on ``folder``, live and quiet (its initial sync done and settled)."""
    with c.daemon(folder) as child:
        c.wait_until(lambda: live(folder / "state.db", child), "the daemon to go live", READY_S)
        c.wait_until(lambda: quiet(folder) and settled(folder), "the daemon to settle", READY_S)
        yield child
        child.stop()


def settled(folder: Path) -> bool:
    time.sleep(SETTLE_S)
    return quiet(folder)


@contextmanager
def naive_script(folder: Path) -> Iterator[c.Child]:
    """The naive script on ``folder``, its first pass done."""
    with c.naive(folder) as child:
        c.wait_until(lambda: first_pass(child) is not None, "the naive first pass", READY_S)
        yield child
        child.stop()


def first_pass(child: c.Child) -> float | None:
    """The seconds of the naive script's first pass, once it reported it."""
    child.check_running()
    for line in child.output().splitlines():
        if "first pass" in line:
            return float(line.split(" in ")[-1].split()[0])
    return None


def count(db: sqlite3.Connection, statement: str, expected: int) -> Callable[[], bool]:
    return lambda: c.scalar(db, statement) == expected


def check_same(folder: Path, what: str) -> None:
    if not c.same_rows(folder):
        raise AssertionError(f"{what}: the two sides differ at the end")


# -- the phases ----------------------------------------------------------------------------


def phase_sync(root: Path, rows: int) -> Line:
    raw = c.raw_copy(root / "sync-raw", rows)
    c.create_sides(root / "sync-rep", fno_rows=rows)
    result = c.timed_sync(root / "sync-rep")
    assert result["created"] == rows, result
    check_same(root / "sync-rep", "initial sync")
    c.create_sides(root / "sync-naive", fno_rows=rows)
    with naive_script(root / "sync-naive") as child:
        naive = first_pass(child)
    assert naive is not None
    check_same(root / "sync-naive", "naive first pass")
    return rates(f"initial sync {rows:,}", rows, result["seconds"], raw, naive)


def inserted(folder: Path, rows: int, linked: bool) -> float:
    """Seconds from the first of ``rows`` inserts on fno until all are on crm (and linked)."""
    with closing(c.connect(folder / "fno.db")) as fno, closing(c.connect(folder / "crm.db")) as crm:
        started = time.perf_counter()
        c.load(fno, c.FNO_INSERT, (c.customer(i) for i in range(rows)))
        done = c.wait_until(count(crm, "SELECT count(*) FROM accounts", rows), "inserts", READY_S)
    if linked:
        with closing(sqlite3.connect(folder / "state.db", timeout=30)) as st:
            links = "SELECT count(*) FROM links WHERE id0 IS NOT NULL AND id1 IS NOT NULL"
            done = c.wait_until(count(st, links, rows), "links", READY_S)
    return done - started


def phase_insert(root: Path, rows: int) -> list[Line]:
    raw = c.raw_copy(root / "insert-raw", rows)
    c.create_sides(root / "insert-rep")
    with replicator(root / "insert-rep") as child:
        rep, rep_cpu = measured(child, lambda: inserted(root / "insert-rep", rows, linked=True))
    check_same(root / "insert-rep", "live inserts")
    c.create_sides(root / "insert-naive")
    with naive_script(root / "insert-naive") as child:
        naive, naive_cpu = measured(
            child, lambda: inserted(root / "insert-naive", rows, linked=False)
        )
    check_same(root / "insert-naive", "naive inserts")
    return [rates(f"live insert {rows:,}", rows, rep, raw, naive), cpu(rep_cpu, naive_cpu)]


def updated(folder: Path, rows: int) -> float:
    """Seconds from the first of ``rows`` updates on fno until all are on crm."""
    update = "UPDATE CustomersV3 SET AddressCity = 'Updated' WHERE RecId = ?"
    applied = "SELECT count(*) FROM accounts WHERE address1_city = 'Updated'"
    with closing(c.connect(folder / "fno.db")) as fno, closing(c.connect(folder / "crm.db")) as crm:
        started = time.perf_counter()
        c.load(fno, update, ((i + 1,) for i in range(rows)))
        return c.wait_until(count(crm, applied, rows), "updates", READY_S) - started


def phase_update(root: Path, rows: int) -> list[Line]:
    raw = c.raw_copy(root / "update-raw", rows, existing=True)
    c.create_sides(root / "update-rep", fno_rows=rows, crm_rows=rows)
    with replicator(root / "update-rep") as child:
        rep, rep_cpu = measured(child, lambda: updated(root / "update-rep", rows))
    check_same(root / "update-rep", "live updates")
    c.create_sides(root / "update-naive", fno_rows=rows, crm_rows=rows)
    with naive_script(root / "update-naive") as child:
        naive, naive_cpu = measured(child, lambda: updated(root / "update-naive", rows))
    check_same(root / "update-naive", "naive updates")
    return [rates(f"live update {rows:,}", rows, rep, raw, naive), cpu(rep_cpu, naive_cpu)]


T = TypeVar("T")


def measured(child: c.Child, measure: Callable[[], T]) -> tuple[T, float]:
    """What ``measure`` returns, and the CPU seconds ``child`` used meanwhile."""
    before = child.cpu_s()
    result = measure()
    return result, child.cpu_s() - before


def cpu(rep: float, naive: float) -> Line:
    return Line("  cpu of the process", f"{rep:.2f} s", naive=f"{naive:.2f} s",
                vs_naive=better(naive, rep))  # fmt: skip


# -- steady single-row updates, and their lag ----------------------------------------------


@dataclass
class Lags:
    """What a steady load measured; times in seconds."""

    offered: float  # updates a second the generator achieved
    lags: list[float]  # of the updates that arrived, sorted
    missing: int  # never arrived before the drain deadline
    backlog: int  # not yet on crm when the load stopped
    drain_s: float | None  # from the end of the load to the last arrival (None: missing)
    early_p50: float  # median lag of the updates of the second second
    late_p50: float  # and of the last second

    @property
    def behind(self) -> bool:
        return self.drain_s is None or self.late_p50 > 2 * self.early_p50 + 0.02

    def quantile(self, q: float) -> float:
        return self.lags[max(0, math.ceil(q * len(self.lags)) - 1)] if self.lags else math.nan


@dataclass
class Steady:
    """Single-row updates of CreditLimit on fno at ``rate``/s, observed on crm.

    Update k writes ``BASE + k`` into row ``k % rows``; once crm shows value j for a
    row, every update k <= j of that row has arrived (a later value carries the earlier
    ones). Each poll reads only the values from the oldest not yet arrived on."""

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

    def update(self) -> None:
        k = len(self.committed)
        row = k % self.rows
        statement = "UPDATE CustomersV3 SET CreditLimit = ? WHERE RecId = ?"
        self.fno.execute(statement, (BASE + k, row + 1))
        self.committed.append(time.perf_counter())
        self.arrived.append(None)
        self.pending.setdefault(row, deque()).append(k)

    def observe(self) -> None:
        now = time.perf_counter()
        statement = "SELECT creditlimit FROM accounts WHERE creditlimit >= ?"
        for (value,) in self.crm.execute(statement, (BASE + self.floor,)):
            j = int(value - BASE)
            queue = self.pending.get(j % self.rows, deque())
            while queue and queue[0] <= j:
                self.arrived[queue.popleft()] = now
                self.seen += 1
        while self.floor < len(self.committed) and self.arrived[self.floor] is not None:
            self.floor += 1

    def offer(self, every: Callable[[], None] | None = None) -> float:
        """Offer the load, observing meanwhile (and calling ``every`` every 10 s); the
        perf_counter when it started."""
        total, started = int(self.rate * self.seconds), time.perf_counter()
        next_poll = next_tick = started
        while len(self.committed) < total:
            due, now = started + len(self.committed) / self.rate, time.perf_counter()
            if now >= due:
                self.update()
            elif now >= next_poll:
                self.observe()
                next_poll = time.perf_counter() + c.POLL_S
            elif every is not None and now >= next_tick:
                every()
                next_tick += 10.0
            else:
                time.sleep(min(due, next_poll) - now)
        return started

    def run(self, every: Callable[[], None] | None = None) -> Lags:
        started = self.offer(every)
        ended, backlog = time.perf_counter(), len(self.committed) - self.seen
        deadline = ended + max(30.0, self.seconds)
        while self.seen < len(self.committed) and time.perf_counter() < deadline:
            time.sleep(c.POLL_S)
            self.observe()
        return self.lags(started, ended, backlog)

    def lags(self, started: float, ended: float, backlog: int) -> Lags:
        done = [(t, a) for t, a in zip(self.committed, self.arrived, strict=True) if a is not None]
        missing = len(self.committed) - len(done)
        last = max((a for _, a in done), default=ended)
        early = started + min(1.0, self.seconds / 3)
        late = ended - min(1.0, self.seconds / 3)
        return Lags(
            offered=len(self.committed) / (ended - started),
            lags=sorted(a - t for t, a in done),
            missing=missing,
            backlog=backlog,
            drain_s=None if missing else max(0.0, last - ended),
            early_p50=median([a - t for t, a in done if early <= t < early + 1.0]),
            late_p50=median([a - t for t, a in done if t >= late]),
        )


def median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2] if xs else math.nan


def steady(
    folder: Path, rows: int, rate: float, seconds: float, every: Callable[[], None] | None = None
) -> Lags:
    with closing(c.connect(folder / "fno.db")) as fno, closing(c.connect(folder / "crm.db")) as crm:
        return Steady(fno, crm, rows, rate, seconds).run(every)


def ms(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def better(naive: float | None, rep: float | None) -> str:
    """How many times lower the replicator's figure is than the naive script's."""
    if not naive or not rep or math.isnan(naive) or math.isnan(rep):
        return "-"
    return f"{naive / rep:.2f}x"


def lag_lines(label: str, rep: Lags, naive: Lags | None) -> list[Line]:
    lines = []
    for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
        r, n = rep.quantile(q), naive.quantile(q) if naive else None
        lines.append(Line(f"{label} lag {name}", ms(r), naive=ms(n), vs_naive=better(n, r)))
    lines += [
        Line(
            "  backlog at load end", f"{rep.backlog:,}", naive=f"{naive.backlog:,}" if naive else ""
        ),
        Line("  drain after load end", drained(rep), naive=drained(naive) if naive else ""),
        Line("  falls behind", yes(rep.behind), naive=yes(naive.behind) if naive else ""),
        Line(
            "  offered rate achieved",
            f"{rep.offered:,.0f}/s",
            naive=f"{naive.offered:,.0f}/s" if naive else "",
        ),
    ]
    return lines


def drained(lags: Lags) -> str:
    return f"not drained ({lags.missing:,} left)" if lags.drain_s is None else ms(lags.drain_s)


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def phase_steady(root: Path, rows: int, rate: float, seconds: float) -> list[Line]:
    c.create_sides(root / "steady-rep", fno_rows=rows, crm_rows=rows)
    with replicator(root / "steady-rep") as child:
        rep, rep_cpu = measured(child, lambda: steady(root / "steady-rep", rows, rate, seconds))
    check_same(root / "steady-rep", "steady updates")
    c.create_sides(root / "steady-naive", fno_rows=rows, crm_rows=rows)
    with naive_script(root / "steady-naive") as child:
        naive, naive_cpu = measured(
            child, lambda: steady(root / "steady-naive", rows, rate, seconds)
        )
    check_same(root / "steady-naive", "naive steady updates")
    label = f"{rate:,.0f} updates/s {seconds:g}s"
    return [*lag_lines(label, rep, naive), cpu(rep_cpu, naive_cpu)]


# -- memory ------------------------------------------------------------------------------


def mb(kb: int) -> str:
    return f"{kb / 1024:,.0f} MB"


def phase_rss(root: Path, rows: int) -> list[Line]:
    raw = c.raw_copy(root / "rss-raw", rows)
    c.create_sides(root / "rss-rep", fno_rows=rows)
    result = c.timed_sync(root / "rss-rep")
    c.create_sides(root / "rss-naive", fno_rows=rows)
    with naive_script(root / "rss-naive") as child:
        naive_kb, naive_s = child.status_kb("VmHWM"), first_pass(child)
    assert naive_s is not None
    peak = Line(f"peak RSS, sync {rows:,}", mb(result["peak_kb"]), naive=mb(naive_kb),
                vs_naive=better(naive_kb, result["peak_kb"]))  # fmt: skip
    return [rates(f"initial sync {rows:,}", rows, result["seconds"], raw, naive_s), peak]


def phase_soak(root: Path, rows: int, rate: float, minutes: float) -> list[Line]:
    c.create_sides(root / "soak", fno_rows=rows, crm_rows=rows)
    samples: list[int] = []
    with replicator(root / "soak") as child:

        def rss() -> None:
            samples.append(child.status_kb("VmRSS"))

        lags = steady(root / "soak", rows, rate, minutes * 60, every=rss)
        rss()
    note(f"soak RSS samples (MB, every 10 s): {[round(s / 1024) for s in samples]}")
    label = f"soak {minutes:g} min at {rate:,.0f}/s"
    return [
        Line(
            f"{label} RSS first/last/max",
            f"{mb(samples[0])} / {mb(samples[-1])} / {mb(max(samples))}",
        ),
        *lag_lines(label, lags, None),
    ]


# -- the run -------------------------------------------------------------------------------


def table(lines: list[Line]) -> str:
    head = Line("phase", "replicator", "raw copy", "ratio", "naive script", "vs naive")
    cells = [
        [ln.phase, ln.replicator, ln.raw, ln.ratio, ln.naive, ln.vs_naive] for ln in [head, *lines]
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(6)]
    return "\n".join(
        "   ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def run(args: argparse.Namespace, root: Path) -> list[Line]:
    lines: list[Line] = []
    measures: dict[str, Callable[[], list[Line]]] = {
        "sync": lambda: [phase_sync(root, args.rows)],
        "insert": lambda: phase_insert(root, args.rows),
        "update": lambda: phase_update(root, 2 * args.rows),
        "steady": lambda: phase_steady(root, args.rows, args.rate, args.seconds),
        "rss": lambda: phase_rss(root, args.rss),
        "soak": lambda: phase_soak(root, args.rows, args.rate, args.soak),
    }
    phases = [p for p in args.phases.split(",") if p]
    phases += ["rss"] * bool(args.rss) + ["soak"] * bool(args.soak)
    for name in phases:
        started = time.perf_counter()
        new = measures[name]()
        note(table(new).split("\n", 1)[1] + f"   ({time.perf_counter() - started:.0f} s)")
        lines += new
    return lines


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="N (default 20,000)")
    parser.add_argument("--phases", default=",".join(PHASES), help="of " + ",".join(PHASES))
    parser.add_argument("--rate", type=float, default=1000.0, help="steady updates a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="of the steady load")
    parser.add_argument("--rss", type=int, default=0, metavar="ROWS", help="peak RSS of a sync")
    parser.add_argument("--soak", type=float, default=0.0, metavar="MINUTES")
    args = parser.parse_args(argv)
    unknown = set(args.phases.split(",")) - set(PHASES) - {""}
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}; known: {','.join(PHASES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        lines = run(args, Path(tmp))
    print(table(lines))
    print(f"(ratio: replicator / raw copy; vs naive: times better than the naive script; "
          f"{time.perf_counter() - started:.0f} s in all)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
