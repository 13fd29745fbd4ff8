"""Engine throughput: N changes end to end through the memory adapter, in changes/s.

Baseline, in the same run: the same N rows written straight into the target memory side
in batches (what replication costs beyond the writes themselves). Prints both and the
ratio; machines are shared and noisy, so compare ratios between runs, not absolute times.

    python bench/engine.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import anyio

from adapters.memory import MemorySide
from replicator import Replicator
from replicator.adapter import WriteOp
from replicator.logs import configure_logging

CONFIG = """
[state]
path = "state.db"
[sides.fno]
adapter = "memory"
[sides.crm]
adapter = "memory"
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "Name", crm = "name" }, { fno = "CreditLimit", crm = "creditlimit" } ]
"""


def row(i: int) -> dict[str, object]:
    return {
        "dataAreaId": "usmf",
        "CustomerAccount": f"C{i:07}",
        "Name": f"Customer {i}",
        "CreditLimit": i * 10,
    }


async def replicated(n: int) -> float:
    """Seconds to replicate n creates then n updates fno -> crm (2n changes)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(CONFIG)
        fno, crm = MemorySide("fno"), MemorySide("crm")
        async with Replicator(path, sides={"fno": fno, "crm": crm}) as rep:
            await rep.wait_idle()
            started = time.perf_counter()
            ids = [fno.insert("CustomersV3", row(i)) for i in range(n)]
            await rep.wait_idle()
            for nid in ids:
                fno.update("CustomersV3", nid, {"CreditLimit": 1})
            await rep.wait_idle()
            elapsed = time.perf_counter() - started
        assert len(crm.rows("accounts")) == n, (len(crm.rows("accounts")), n)
        return elapsed


async def baseline(n: int, batch: int = 500) -> float:
    """Seconds to write the same rows straight into a memory side, inserts then updates."""
    crm = MemorySide("crm")
    started = time.perf_counter()
    ids: list[str] = []
    for start in range(0, n, batch):
        ops = [
            WriteOp("accounts", "insert", "t", values=row(i))
            for i in range(start, min(n, start + batch))
        ]
        ids += [r.native_id or "" for r in await crm.write(ops)]
    for start in range(0, n, batch):
        ops = [
            WriteOp("accounts", "update", "t", native_id=nid, values={"creditlimit": 1})
            for nid in ids[start : start + batch]
        ]
        await crm.write(ops)
    return time.perf_counter() - started


async def main(n: int) -> None:
    configure_logging("json", "warning")
    base = await baseline(n)
    engine = await replicated(n)
    print(f"changes             {2 * n}")
    print(f"replicated          {2 * n / engine:12,.0f} changes/s  ({engine:.2f} s)")
    print(f"baseline raw writes {2 * n / base:12,.0f} changes/s  ({base:.2f} s)")
    print(f"ratio               {base / engine:12.4f}  (replicated / raw throughput)")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 20_000, backend="asyncio")
