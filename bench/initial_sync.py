"""Initial sync throughput: rows/s of `replicator sync` from one SQLite side to an empty one.

Baseline, in the same run: a raw copy of the same rows between two SQLite files with
the same pragmas (WAL, foreign keys on), ``executemany`` upserts in batches of 1,000.
Prints both and their ratio; compare ratios between runs, not absolute times. (The
sync runs in this process; bench/live.py runs it in a process of its own, beside the
live phases.)

Then where the sync's time goes: the same rows through each part of the work alone,
each beside the raw copy.

* ``side writes``: the SQLite side's ``write`` of the inserts, a batch of 1,000 a call,
  as the sync hands them over (a token each, the capture triggers recording every row).
* ``state store``: the store's commits of the same rows' intents, then of their links
  (each forgetting its intents), 1,000 a transaction, as the sync makes them.
* ``capture floor``: the raw copy's ``executemany`` into a table with the replicator's
  capture triggers (DESIGN §7), one token a transaction: what the SQLite side's contract
  costs with no Python per row. No sync that keeps the contract can beat this ratio.

The sync runs the side writes and the store's commits in two threads beside its
planning, so its time is at best that of the slower part, not their sum.

    python bench/initial_sync.py [ROWS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import _common as c
import anyio

from adapters.sqlite import SQLiteSide
from replicator import Replicator
from replicator.adapter import WriteOp
from replicator.config import load_config
from replicator.logs import configure_logging
from replicator.model import Commit, Intent, Link
from replicator.schema import entity_specs
from replicator.store import Store

CRM_INSERT = (
    "INSERT INTO accounts (company, accountnumber, name, creditlimit, address1_city)"
    " VALUES (?, ?, ?, ?, ?)"
)
KEY = ("company", "accountnumber")


async def replicated(folder: Path) -> float:
    """Seconds of the initial sync of every row to the empty side."""
    async with Replicator(folder / "bench.toml", initial_sync=False, live=False) as rep:
        started = time.perf_counter()
        [report] = await rep.sync()
        elapsed = time.perf_counter() - started
    assert report.created[1] == report.rows[0], report
    return elapsed


async def prepared_crm(folder: Path) -> SQLiteSide:
    """An empty crm side with the capture triggers installed, open."""
    c.create_sides(folder)
    side = SQLiteSide("crm", folder / "crm.db")
    await side.open()
    await side.prepare(entity_specs(load_config(folder / "bench.toml"), 1))
    return side


async def side_writes(folder: Path, rows: int) -> float:
    """Seconds of the SQLite side's ``write`` of ``rows`` inserts, 1,000 a call."""
    side = await prepared_crm(folder)
    try:
        started = time.perf_counter()
        for start in range(0, rows, c.BATCH):
            ops = [
                WriteOp("accounts", "insert", f"t.{i}", values=values(i), key_fields=KEY)
                for i in range(start, min(rows, start + c.BATCH))
            ]
            results = await side.write(ops)
            assert all(r.status == "applied" for r in results), results[0]
        return time.perf_counter() - started
    finally:
        await side.close()


async def capture_floor(folder: Path, rows: int) -> float:
    """Seconds of the raw copy's ``executemany`` through the capture triggers."""
    await (await prepared_crm(folder)).close()
    with closing(c.connect(folder / "crm.db")) as crm:
        started = time.perf_counter()
        for start in range(0, rows, c.BATCH):
            crm.execute("BEGIN")
            crm.execute("UPDATE _replicator_ctx SET token = ? WHERE id = 1", (f"t.{start}",))
            crm.executemany(CRM_INSERT, [c.customer(i) for i in range(start, start + c.BATCH)])
            crm.execute("UPDATE _replicator_ctx SET token = NULL WHERE id = 1")
            crm.execute("COMMIT")
        return time.perf_counter() - started


async def store_commits(folder: Path, rows: int) -> float:
    """Seconds of the state store's commits of ``rows`` rows' intents, then links."""
    await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
    store = await Store.open(folder / "state.db")
    try:
        started = time.perf_counter()
        for start in range(0, rows, c.BATCH):
            links = [link(i) for i in range(start, min(rows, start + c.BATCH))]
            now = time.time()
            intents = [Intent(token=f"t.{lk.id}", side=1, link=lk, created_at=now) for lk in links]
            await store.commit([Commit(intents=intents)])
            await store.commit([Commit(link=lk, clear_intents=lk.id) for lk in links])
        return time.perf_counter() - started
    finally:
        await store.close()


def values(i: int) -> dict[str, object]:
    return dict(zip((*KEY, "name", "creditlimit", "address1_city"), c.customer(i), strict=True))


def link(i: int) -> Link:
    company, account, name, credit, city = c.customer(i)
    return Link(
        id=i + 1,
        map="customers",
        key=f'["{company}","{account}"]',
        ids=[str(i + 1), f"{i:032x}"],
        versions=[str(i + 1), str(i + 1)],
        shadow={"k0": company, "k1": account, "f0": name, "f1": credit, "f2": city},
        tokens=[None, f"t.{i + 1}"],
    )


async def main(rows: int) -> None:
    configure_logging("json", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        c.create_sides(folder / "sync", fno_rows=rows)
        raw = c.raw_copy(folder / "raw", rows)
        sync = await replicated(folder / "sync")
        side = await side_writes(folder / "side", rows)
        store = await store_commits(folder / "store", rows)
        floor = await capture_floor(folder / "floor", rows)
    print(f"rows                {rows}")
    print(f"initial sync        {rows / sync:12,.0f} rows/s  ({sync:.2f} s)")
    print(f"raw executemany     {rows / raw:12,.0f} rows/s  ({raw:.2f} s)")
    print(f"ratio               {raw / sync:12.4f}  (initial sync / raw copy throughput)")
    print("where the time goes (the same rows through each part alone; ratio to the raw copy):")
    for name, seconds in (("side writes", side), ("state store", store), ("capture floor", floor)):
        print(f"  {name:17} {rows / seconds:12,.0f} rows/s  {raw / seconds:8.4f}")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, backend="asyncio")
