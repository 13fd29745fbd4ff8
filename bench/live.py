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
  p99 and max; the most updates in flight at any poll, the backlog when the load
  stops, the time to drain it, and whether it fell behind: not drained within 1 s of
  the load's end, or the median lag of its last third above twice that of its
  middle third plus 20 ms.
* ``--rss ROWS``: peak RSS (``ru_maxrss``) of the initial sync of ROWS rows, and of
  the naive script's first pass of the same rows (its VmHWM).
* ``--soak MINUTES``: the ``steady`` load for MINUTES; the daemon's RSS every 10 s
  (first, last, max) and the lag.

The observer and the load generator run in this process, each in a thread of its own,
the daemon and the naive script in their own processes (bench/_children.py: how each
is started and known to be ready); the observer reads crm on its own connection every
5 ms (WAL: it never blocks a writer), so times are known to about 5 ms
(bench/_steady.py: the lag measure). Each phase also shows the CPU seconds the daemon
or the script used while measured.
Figures are noisy on a shared machine: compare ratios within one run, not absolute
rates between runs.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import _common as c
from _children import Child, first_pass, naive_script, replicator, timed_sync
from _steady import Lags, steady

TIMEOUT_S = 600.0  # a measurement that takes longer: failed
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


def count(db: sqlite3.Connection, statement: str, expected: int) -> Callable[[], bool]:
    return lambda: c.scalar(db, statement) == expected


def check_same(folder: Path, what: str) -> None:
    if not c.same_rows(folder):
        raise AssertionError(f"{what}: the two sides differ at the end")


# -- the phases ----------------------------------------------------------------------------


def phase_sync(root: Path, rows: int) -> Line:
    raw = c.raw_copy(root / "sync-raw", rows)
    c.create_sides(root / "sync-rep", fno_rows=rows)
    result = timed_sync(root / "sync-rep")
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
        done = c.wait_until(count(crm, "SELECT count(*) FROM accounts", rows), "inserts", TIMEOUT_S)
    if linked:
        with closing(sqlite3.connect(folder / "state.db", timeout=30)) as st:
            links = "SELECT count(*) FROM links WHERE id0 IS NOT NULL AND id1 IS NOT NULL"
            done = c.wait_until(count(st, links, rows), "links", TIMEOUT_S)
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
        return c.wait_until(count(crm, applied, rows), "updates", TIMEOUT_S) - started


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


def measured(child: Child, measure: Callable[[], T]) -> tuple[T, float]:
    """What ``measure`` returns, and the CPU seconds ``child`` used meanwhile."""
    before = child.cpu_s()
    result = measure()
    return result, child.cpu_s() - before


def cpu(rep: float, naive: float) -> Line:
    return Line("  cpu of the process", f"{rep:.2f} s", naive=f"{naive:.2f} s",
                vs_naive=better(naive, rep))  # fmt: skip


# -- steady single-row updates: their lag -------------------------------------------------


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
    shown: list[tuple[str, Callable[[Lags], str]]] = [
        ("  backlog max during load", lambda lags: f"{lags.peak_backlog:,}"),
        ("  backlog at load end", lambda lags: f"{lags.backlog:,}"),
        ("  drain after load end", drained),
        ("  falls behind", lambda lags: "yes" if lags.behind else "no"),
        ("  offered rate achieved", lambda lags: f"{lags.offered:,.0f}/s"),
    ]
    return lines + [
        Line(name, show(rep), naive=show(naive) if naive else "") for name, show in shown
    ]


def drained(lags: Lags) -> str:
    return f"not drained ({lags.missing:,} left)" if lags.drain_s is None else ms(lags.drain_s)


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
    result = timed_sync(root / "rss-rep")
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
