"""The cost of a reconciliation pass, per 10,000 rows, on two SQLite sides.

One run seeds ``ROWS`` customers on the fno side, syncs them to crm (the baseline: the
initial sync of the same rows), then times, on the live engine:

* a pass over the converged map (both sides): what an hourly pass costs when the feed
  lost nothing;
* a pass after the feed lost 1% of the rows' updates (their change rows deleted, as a lost
  event is): what it replayed, and the time until crm holds every lost update;
* a raw scan of both tables by the adapters (``scan`` pages alone), the floor of a pass.

Each line gives seconds per 10,000 rows and the side requests (scan pages, and ``get``
calls confirming deletes). Compare ratios between runs, not absolute times.

    python bench/reconcile.py [ROWS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import _common as c
import anyio

from replicator import Replicator
from replicator.logs import configure_logging
from replicator.reconcile import PassReport
from replicator.sync.scan import scan_pages

LOSS = 0.01
PER = 10_000


async def initial_sync(folder: Path) -> float:
    async with Replicator(folder / "bench.toml", initial_sync=False, live=False) as rep:
        started = time.perf_counter()
        await rep.sync()
        return time.perf_counter() - started


def lose_updates(folder: Path, rows: int) -> int:
    """Update every 100th fno row and delete its change row (the feed loses it)."""
    lost = list(range(0, rows, int(1 / LOSS)))
    with c.connect(folder / "fno.db") as db:
        db.executemany(
            "UPDATE CustomersV3 SET CreditLimit = CreditLimit + 1 WHERE RecId = ?",
            [(i + 1,) for i in lost],
        )
        db.execute("DELETE FROM _replicator_changes")
    return len(lost)


async def raw_scan(rep: Replicator) -> tuple[float, int]:
    """Seconds and pages of scanning both sides' tables with the adapters alone."""
    started, pages = time.perf_counter(), 0
    m = rep.config.maps[0]
    for side in (0, 1):
        async for _ in scan_pages(rep.ctx.sides[side], m.entities[side], 1000):
            pages += 1
    return time.perf_counter() - started, pages


def line(name: str, seconds: float, rows: int, requests: int | None, extra: str = "") -> str:
    """Seconds and side requests per 10,000 rows (requests not counted: blank)."""
    per = seconds * PER / rows
    asked = "" if requests is None else f"{requests * PER / rows:8.1f} requests/10k"
    return f"{name:30} {per:8.3f} s/10k rows  {asked:20}  {extra}".rstrip()


def requests(reports: list[PassReport]) -> int:
    return sum(r.requests for r in reports)


async def main(rows: int) -> None:
    configure_logging("json", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        c.create_sides(folder, fno_rows=rows)
        sync = await initial_sync(folder)
        async with Replicator(folder / "bench.toml", reconcile=False) as rep:
            await rep.wait_idle()
            scan_s, scan_pages_n = await raw_scan(rep)
            started = time.perf_counter()
            converged = await rep.reconcile()
            converged_s = time.perf_counter() - started
            lost = lose_updates(folder, rows)
            started = time.perf_counter()
            lossy = await rep.reconcile()
            lossy_s = time.perf_counter() - started
            await rep.wait_idle()  # every replayed row applied
            recovered_s = time.perf_counter() - started
        assert c.same_rows(folder), "a lost update did not reach crm"
    replayed = sum(r.replayed for r in lossy)
    assert replayed == lost, (replayed, lost)
    print(f"rows                           {rows}  (both sides: a pass reads {2 * rows})")
    print(line("initial sync (baseline)", sync, rows, None))
    print(line("raw scan of both tables", scan_s, rows, scan_pages_n))
    print(line("pass, converged", converged_s, rows, requests(converged)))
    print(line("pass, 1% updates lost", lossy_s, rows, requests(lossy), f"replayed {replayed}"))
    print(line("  until crm holds them all", recovered_s, rows, requests(lossy)))
    print(f"ratio                          {converged_s / sync:8.3f}  (converged pass / sync)")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 20_000, backend="asyncio")
