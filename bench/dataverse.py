"""Live benchmark of the Dataverse side: an F&O SQLite file and the Dataverse emulator kept in
step by the daemon, the HTTP requests each change costs, beside a naive one-request-per-record
script, all in one run.

    python bench/dataverse.py [--rows N] [--idle SECONDS] [--poll-ms MS] [--max-poll-ms MS]
                              [--batch-size B]

The emulator (emulators/dataverse, over real HTTPS) serves in this process, with the load
generator and the observer (which reads the emulator's rows directly, without HTTP); the
daemon (``replicator run``) and the naive script each run in a child process, so neither
shares an event loop or a CPU core's time slice with the emulator. One map, customers:
CustomersV3 (F&O, SQLite) <-> accounts, keyed by company (``msdyn_company.cdm_companycode``)
and account number, with name, credit limit and city. The phases, one after another, on one
daemon:

* ``insert``: N rows inserted on F&O (1,000 a transaction): changes/s from the first insert
  until the last row is in Dataverse.
* ``update``: those N rows updated on F&O: until the last new value is in Dataverse.
* ``user``: N accounts created in Dataverse by "a user" (the emulator's second application
  user; written into the emulator's store, so the request log holds the daemon's requests
  only): until the last row is on F&O.
* ``idle``: nothing changes for T seconds: the change-tracking polls per minute, and the
  interval between the last two polls (the adaptive interval reached).

Each phase's requests are counted from the emulator's request log, from the phase's start
until the daemon is quiet again (its journal empty, both cursors at their side's head: the
echoes of its own writes read back), by kind: token, metadata, whoami, reads, delta polls,
``$batch`` requests and the parts inside them. The ideal: one ``$batch`` part per change and
a handful of requests per batch of changes; no polls while idle beyond the slowest interval.
Then, with the daemon stopped, the naive script (bench/_naive_dataverse.py) sends the same N
inserts and N updates as one PATCH per record. Figures are noisy on a shared machine: compare
within one run. On localhost a request waits no network round trip, so the rates say little
about a real environment (where each of the naive script's requests waits one); the request
counts are what carries over. The "cpu s" column is the daemon's and this process's CPU time
during the phase: this process's is mostly the emulator, which evaluates a ``$filter`` row by
row (a read of many OR-ed ids costs ids x rows).
"""

from __future__ import annotations

import argparse
import contextvars
import math
import os
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import _common as c
import anyio
import msgspec
from _children import BENCH, Child, daemon, live

from emulators.dataverse import DataverseEmulator
from emulators.dataverse import batch as emulated_batch

TIMEOUT_S = 600.0
SECRET_ENV = "BENCH_CRM_SECRET"
KINDS = ("token", "metadata", "whoami", "read", "delta", "write", "batch", "part")
HEAD = ("phase", "changes/s", *KINDS, "requests", "req/change", "parts/change", "ideal", "cpu s")
CONFIG = """
[state]
path = "state.db"
[sides.fno]
adapter = "sqlite"
path = "fno.db"
poll_interval_ms = 20
[sides.crm]
adapter = "dataverse"
url = "{url}"
tenant_id = "{tenant}"
client_id = "{client}"
client_secret_env = "{secret_env}"
authority = "{authority}"
ca_file = "{ca_file}"
poll_interval_ms = {poll}
max_poll_interval_ms = {max_poll}
batch_size = {batch}
[engine]
batch_size = 1000
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ {{ fno = "dataAreaId", crm = "msdyn_company.cdm_companycode" }},
        {{ fno = "CustomerAccount", crm = "accountnumber" }} ]
fields = [ {{ fno = "OrganizationName", crm = "name" }},
           {{ fno = "CreditLimit", crm = "creditlimit" }},
           {{ fno = "AddressCity", crm = "address1_city" }} ]
"""

_IN_BATCH = contextvars.ContextVar("in_batch", default=False)


class Requests:
    """The emulator's requests by kind (a ``$batch``'s parts apart), and when each delta
    poll came: the emulator's log counts a part like a top-level request of its kind."""

    def __init__(self, crm: DataverseEmulator) -> None:
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.polls: list[float] = []
        log, record = crm.requests, crm.requests.record
        run_batch = emulated_batch.run_batch

        def counted(method: str, kind: str) -> None:
            record(method, kind)
            part = _IN_BATCH.get()
            name = "part" if part else kind
            self.counts[name] = self.counts.get(name, 0) + 1
            if kind == "delta" and not part:
                self.polls.append(time.perf_counter())

        async def batched(*args: Any, **kwargs: Any) -> Any:
            _IN_BATCH.set(True)  # this task's context: the parts it dispatches
            return await run_batch(*args, **kwargs)

        log.record = counted  # type: ignore[method-assign]
        emulated_batch.run_batch = batched

    def take(self) -> dict[str, int]:
        """The counts since the last ``take``, and start afresh."""
        counts, self.counts = self.counts, dict.fromkeys(KINDS, 0)
        self.polls = []
        return counts


class Bench:
    def __init__(self, args: argparse.Namespace, root: Path, crm: DataverseEmulator) -> None:
        self.args, self.root, self.crm = args, root, crm
        self.requests = Requests(crm)
        self.accounts = crm.db.store("accounts")
        self.lines: list[list[str]] = []

    # -- waiting ----------------------------------------------------------------------

    async def until(self, condition: Callable[[], bool], what: str, every: float = 0.01) -> float:
        """Poll ``condition`` without blocking the emulator; the time it first held."""
        deadline = time.perf_counter() + TIMEOUT_S
        while not condition():
            if time.perf_counter() > deadline:
                raise TimeoutError(f"timed out after {TIMEOUT_S:.0f} s waiting for {what}")
            await anyio.sleep(every)
        return time.perf_counter()

    def quiet(self) -> bool:
        """The daemon's journal is empty and its cursors are at both sides' heads."""
        with closing(c.connect(self.root / "fno.db")) as fno:
            seq = "SELECT seq FROM sqlite_sequence WHERE name = '_replicator_changes'"
            fno_head = int(c.scalar(fno, seq) or 0)
        with closing(sqlite3.connect(self.root / "state.db", timeout=30)) as st:
            cursors = dict(st.execute("SELECT side, cursor FROM cursors").fetchall())
            journal = c.scalar(st, "SELECT count(*) FROM journal")
        crm_head = self.accounts.log[-1].version if self.accounts.log else 0
        return (
            journal == 0
            and int(cursors.get(0) or 0) == fno_head
            and delta_version(cursors.get(1)) >= crm_head
        )

    async def settled(self) -> None:
        await self.until(self.quiet, "the daemon to be quiet", every=0.05)
        await anyio.sleep(0.2)
        await self.until(self.quiet, "the daemon to be quiet", every=0.05)

    # -- the phases -------------------------------------------------------------------

    async def phase(self, label: str, load: Callable[[], None], done: Callable[[], bool]) -> None:
        rows, before, ours = self.args.rows, self.child_cpu(), time.process_time()
        self.requests.take()
        started = time.perf_counter()
        load()
        arrived = await self.until(done, label)
        await self.settled()
        counts = self.requests.take()
        rate = rows / (arrived - started)
        cpu = (self.child_cpu() - before, time.process_time() - ours)
        self.line(label, f"{rate:,.0f}/s", counts, rows, cpu=cpu)

    async def live_phases(self) -> None:
        n, fno = self.args.rows, self.root / "fno.db"
        city = "SELECT count(*) FROM CustomersV3"

        def inserted() -> None:
            with closing(c.connect(fno)) as db:
                c.load(db, c.FNO_INSERT, (c.customer(i) for i in range(n)))

        def updated() -> None:
            with closing(c.connect(fno)) as db:
                update = "UPDATE CustomersV3 SET AddressCity = 'Updated' WHERE RecId = ?"
                c.load(db, update, ((i + 1,) for i in range(n)))

        def on_fno(count: int) -> Callable[[], bool]:
            def check() -> bool:
                with closing(c.connect(fno)) as db:
                    return bool(c.scalar(db, city) == count)

            return check

        rows = self.accounts.rows
        await self.phase(f"a insert on F&O {n:,}", inserted, lambda: len(rows) == n)
        await self.phase(
            f"b update on F&O {n:,}",
            updated,
            lambda: sum(r["address1_city"] == "Updated" for r in rows.values()) == n,
        )
        await self.phase(f"c user creates in DV {n:,}", self.user_creates, on_fno(2 * n))

    def user_creates(self) -> None:
        company = self.crm.db.find("cdm_companies", {"cdm_companycode": "usmf"})
        assert company is not None
        for i in range(self.args.rows):
            row = {
                "_msdyn_company_value": company["cdm_companyid"],
                "accountnumber": f"U{i:07}",
                "name": f"User customer {i}",
                "creditlimit": i * 10.0,
                "address1_city": "Reno",
            }
            self.crm.db.create("accounts", row, user=self.crm.user_systemuser_id)

    async def idle(self) -> None:
        seconds = self.args.idle
        self.requests.take()
        await anyio.sleep(seconds)
        polls = list(self.requests.polls)
        counts = self.requests.take()
        per_minute = counts["delta"] / seconds * 60
        reached = f"{polls[-1] - polls[-2]:.1f} s" if len(polls) >= 2 else "-"
        slowest = self.args.max_poll_ms / 1000
        ideal = f"{60 / slowest:.1f} polls/min (interval {slowest:g} s)"
        label = f"d idle {seconds:g} s"
        self.line(label, f"{per_minute:.1f} polls/min", counts, 0, ideal=ideal)
        self.lines.append([f"  interval reached: {reached}", *[""] * (len(HEAD) - 1)])

    async def naive(self) -> None:
        """The same N inserts and N updates, one PATCH each, by a script in its own process."""
        connection = self.root / "crm" / "emulator.json"
        fd = os.open(connection, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(msgspec.json.encode(self.crm.connection()).decode())
        n = self.args.rows
        for label, city in ((f"naive insert {n:,}", "Boise"), (f"naive update {n:,}", "Updated")):
            self.requests.take()
            argv = [sys.executable, str(BENCH / "_naive_dataverse.py"), str(connection)]
            argv += ["--rows", str(n), "--prefix", "N", "--city", city]
            done = await anyio.run_process(argv, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{label}: exited {done.returncode}\n{done.stderr.decode()}")
            seconds = msgspec.json.decode(done.stdout.splitlines()[-1])["seconds"]
            self.line(label, f"{n / seconds:,.0f}/s", self.requests.take(), n, ideal="-")

    # -- the table --------------------------------------------------------------------

    def line(
        self, label: str, rate: str, counts: dict[str, int], changes: int, *,
        cpu: tuple[float, float] | None = None, ideal: str | None = None,
    ) -> None:  # fmt: skip
        total = sum(v for k, v in counts.items() if k != "part")
        per = f"{total / changes:.4f}" if changes else "-"
        parts = f"{counts['part'] / changes:.3f}" if changes else "-"
        if ideal is None:
            ideal = self.ideal(label, changes)
        used = "" if cpu is None else f"{cpu[0]:.1f} / {cpu[1]:.1f}"
        self.lines.append([label, rate, *(f"{counts[k]:,}" for k in KINDS), f"{total:,}", per,
                           parts, ideal, used])  # fmt: skip

    def ideal(self, label: str, changes: int) -> str:
        batches = math.ceil(changes / self.args.batch_size)
        if "user" in label:  # the feed's pages, no write to Dataverse
            return f"{math.ceil(changes / 1000)} delta pages, 0 parts"
        return f"{batches} $batch + a few, 1 part/change"

    def child_cpu(self) -> float:
        return self.child.cpu_s()

    child: Child


def delta_version(cursor: str | None) -> int:
    """The version after which the crm cursor's accounts delta link reads (-1: none yet)."""
    if not cursor:
        return -1
    link = msgspec.json.decode(cursor).get("accounts", "")
    token = parse_qs(urlsplit(link).query).get("$deltatoken", ["-1"])[0]
    return int(token.partition("!")[0])


def table(lines: list[list[str]]) -> str:
    cells = [list(HEAD), *lines]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEAD))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


async def run(args: argparse.Namespace, root: Path) -> list[list[str]]:
    async with DataverseEmulator(root / "crm") as crm:
        bench = Bench(args, root, crm)
        c.database(root / "fno.db", c.FNO).close()
        (root / "bench.toml").write_text(config(args, crm))
        os.environ[SECRET_ENV] = crm.client_secret  # for the daemon only, as a real run has it
        with daemon(root) as child:
            bench.child = child
            await bench.until(lambda: live(root / "state.db", child), "the daemon to go live")
            await bench.settled()
            await bench.live_phases()
            await bench.idle()
            child.proc.send_signal(signal.SIGTERM)
            await bench.until(lambda: child.proc.poll() is not None, "the daemon to stop")
        await bench.naive()
        return bench.lines


def config(args: argparse.Namespace, crm: DataverseEmulator) -> str:
    return CONFIG.format(
        url=crm.url, tenant=crm.tenant_id, client=crm.client_id, secret_env=SECRET_ENV,
        authority=crm.authority, ca_file=crm.ca_file, poll=args.poll_ms,
        max_poll=args.max_poll_ms, batch=args.batch_size,
    )  # fmt: skip


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="N (default 2,000)")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of the idle phase")
    parser.add_argument("--poll-ms", type=int, default=1000, help="the side's poll_interval_ms")
    parser.add_argument("--max-poll-ms", type=int, default=30000, help="max_poll_interval_ms")
    parser.add_argument("--batch-size", type=int, default=500, help="the side's batch_size")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-dataverse-") as tmp:
        lines = anyio.run(run, args, Path(tmp))
    elapsed = time.perf_counter() - started
    print(
        f"Dataverse emulator, the load and the observer in this process; the daemon and the "
        f"naive script in child processes. N={args.rows:,}, poll {args.poll_ms}.."
        f"{args.max_poll_ms} ms, batch_size {args.batch_size}."
    )
    print(table(lines))
    print(
        "(counts are HTTP requests to the emulator by kind; requests excludes parts, which "
        "travel inside $batch requests; a phase counts until the daemon is quiet again, so "
        "the echoes of its own writes are in; cpu s: the daemon's / this process's (the "
        f"emulator, the load, the observer) while the phase ran; {elapsed:.0f} s in all)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
