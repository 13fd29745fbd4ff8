"""Initial sync throughput: rows/s of `replicator sync` from one SQLite side to an empty one.

Baseline, in the same run: a raw copy of the same rows between two SQLite files with
the same pragmas (WAL, foreign keys on), ``executemany`` upserts in batches of 1,000.
Prints both and their ratio; compare ratios between runs, not absolute times. (The
sync runs in this process; bench/live.py runs it in a process of its own, beside the
live phases.)

    python bench/initial_sync.py [ROWS]
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


async def replicated(folder: Path) -> float:
    """Seconds of the initial sync of every row to the empty side."""
    async with Replicator(folder / "bench.toml", initial_sync=False, live=False) as rep:
        started = time.perf_counter()
        [report] = await rep.sync()
        elapsed = time.perf_counter() - started
    assert report.created[1] == report.rows[0], report
    return elapsed


async def main(rows: int) -> None:
    configure_logging("json", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        c.create_sides(folder, fno_rows=rows)
        raw = c.raw_copy(folder / "raw", rows)
        sync = await replicated(folder)
    print(f"rows                {rows}")
    print(f"initial sync        {rows / sync:12,.0f} rows/s  ({sync:.2f} s)")
    print(f"raw executemany     {rows / raw:12,.0f} rows/s  ({raw:.2f} s)")
    print(f"ratio               {raw / sync:12.4f}  (initial sync / raw copy throughput)")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, backend="asyncio")
