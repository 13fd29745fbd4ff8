"""One initial sync in a process of its own, for bench/live.py: ``python bench/_sync_once.py
CONFIG`` syncs every map of CONFIG to the other side and prints one JSON line with the
sync's seconds (the ``sync`` call alone, not the process start), the rows read and
created, and the process's peak RSS in kB (``ru_maxrss``)."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import anyio

from replicator import Replicator
from replicator.logs import configure_logging


async def main(config: Path) -> None:
    configure_logging("json", "warning")
    async with Replicator(config, initial_sync=False, live=False) as rep:
        started = time.perf_counter()
        reports = await rep.sync()
        seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = sum(r.rows[0] for r in reports)
    created = sum(r.created[1] for r in reports)
    print(json.dumps({"seconds": seconds, "rows": rows, "created": created, "peak_kb": peak_kb}))


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), backend="asyncio")
