"""Benchmark of the F&O side: the F&O emulator and an SQLite file kept in step by the daemon,
each figure beside a baseline measured in the same run.

    python bench/fno.py [--rows N] [--changes M] [--events E] [--rate R] [--concurrency C]

Three processes: the F&O emulator (bench/_fno_emulator.py: ``CustomersV3`` seeded with N
customers, its requests counted), the daemon (``replicator run``: F&O with ``feed =
"events"`` <-> SQLite, its HTTP endpoint on loopback) and this one (the load, the
observer of the SQLite side, and a bare receiver of data events). The daemon first syncs the
N rows to SQLite; then, one after another:

* ``reconcile``: a pass over the converged map on demand (``POST /api/reconcile``), its
  seconds and OData requests per 10,000 F&O rows, beside a raw paged scan of the same
  entity by this process (1,000 rows a page, as the side reads).
* ``hooks``: E data events (each of one seeded row, each its own ``EventId``) POSTed to
  ``/hooks/fno`` with the key, C at a time: events/s answered 200, each journaled durably
  (fsync'd) before the answer; beside the same number of requests, C at a time, to the
  daemon's ``/healthz`` (the same server stack, no journal): the ratio is what parsing and
  journaling cost.
* ``latency``: M changes to F&O (a PATCH of a row's name, by another user's app) at R a
  second; the emulator's emitter posts each change's data event to this process's bare
  receiver first and to ``/hooks/fno`` next. From just before the PATCH until the new name
  is in SQLite (end to end: emitter, hook, journal, an OData read, the SQLite write), beside
  until the event reached the bare receiver (the emitter's own delivery): p50 and p99.

The emitter delivers one event at a time, to each subscription in turn, from the emulator's
one event loop, which also answers the daemon's OData reads (a row read by ``$filter`` is
evaluated row by row: with 10,000 rows a one-row read by ``$filter`` took ~15x a read by
key in a probe). With many rows the emulator
itself is then the bottleneck: both latencies grow together and their ratio, not their size,
says what the daemon adds; ``--rows 500`` shows the latencies of a lightly loaded emulator.

Figures are noisy on a shared machine: compare the ratios within one run, not absolute
times between runs. On localhost a request waits no network round trip.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import ssl
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import _common as c
import anyio
import httpx
from _children import BENCH, Child, daemon
from _fno_http import Receiver, odata_token

PER = 10_000
TIMEOUT_S = 600.0
SECRET_ENV, HOOK_ENV = "BENCH_FNO_SECRET", "BENCH_FNO_HOOK_KEY"
HOOK_KEY = "bench-hook-key-not-a-secret"
PAGE = 1000
CONFIG = """
[state]
path = "state.db"
[http]
listen = "127.0.0.1:{port}"
[sides.fno]
adapter = "fno"
url = "{url}"
tenant_id = "{tenant_id}"
client_id = "{client_id}"
client_secret_env = "{secret_env}"
authority = "{authority}"
ca_file = "{ca_file}"
feed = "events"
hook_key_env = "{hook_env}"
reconcile_minutes = 0
page_size = {page}
[sides.crm]
adapter = "sqlite"
path = "crm.db"
poll_interval_ms = 20
[engine]
batch_size = {page}
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ {{ fno = "dataAreaId", crm = "company" }},
        {{ fno = "CustomerAccount", crm = "accountnumber" }} ]
fields = [ {{ fno = "OrganizationName", crm = "name" }},
           {{ fno = "CreditLimit", crm = "creditlimit" }} ]
"""
Line = tuple[str, str, str, str]


class Bench:
    """The run's clients and figures: the emulator's OData (as the user's app) and admin
    routes, the daemon's endpoint, the SQLite side."""

    def __init__(self, args: argparse.Namespace, root: Path, fno: dict[str, str]) -> None:
        self.args, self.root, self.fno = args, root, fno
        self.lines: list[Line] = []
        self.tls = ssl.create_default_context(cafile=fno["ca_file"])
        self.daemon_url = ""

    # -- reconciliation ---------------------------------------------------------------

    async def reconcile(self, odata: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
        rows = self.args.rows
        before = await self.counts()
        started = time.perf_counter()
        pages = await raw_scan(odata)
        scan_s = time.perf_counter() - started
        scan_requests = requests_since(before, await self.counts())
        before = await self.counts()
        started = time.perf_counter()
        reply = await api.post("/api/reconcile", json={"maps": ["customers"]}, timeout=TIMEOUT_S)
        pass_s = time.perf_counter() - started
        reply.raise_for_status()
        passes = [p for p in reply.json()["passes"] if p["side"] == "fno"]
        pass_requests = requests_since(before, await self.counts())
        replayed = sum(p["replayed"] for p in passes)
        self.add(
            "reconcile: s / 10k F&O rows",
            f"{pass_s * PER / rows:.3f}",
            f"{scan_s * PER / rows:.3f}",
            f"pass of both sides (F&O's part {sum(p['seconds'] for p in passes):.2f} s, "
            f"replayed {replayed}) / raw scan ({pages} pages)",
        )
        self.add(
            "reconcile: OData req / 10k rows",
            f"{pass_requests * PER / rows:.1f}",
            f"{scan_requests * PER / rows:.1f}",
            f"counted by the emulator; the side says {sum(p['requests'] for p in passes)}",
        )

    async def counts(self) -> dict[str, int]:
        async with httpx.AsyncClient(base_url=self.fno["url"], verify=self.tls) as emulator:
            reply = await emulator.get("/_bench/requests")
        reply.raise_for_status()
        counts: dict[str, int] = reply.json()
        return counts

    # -- the hook's throughput --------------------------------------------------------

    async def hooks(self, api: httpx.AsyncClient) -> None:
        n, width = self.args.events, self.args.concurrency

        async def health(i: int) -> None:
            (await api.get("/healthz")).raise_for_status()

        async def event(i: int) -> None:
            body = data_event(i % self.args.rows, f"BENCH-{i}")
            reply = await api.post("/hooks/fno", params={"code": HOOK_KEY}, content=body)
            if reply.status_code != 200:
                raise RuntimeError(f"/hooks/fno answered {reply.status_code}: {reply.text}")

        baseline = await concurrently(health, n, width)
        hooked = await concurrently(event, n, width)
        self.add(
            f"hooks: events/s, {width} at a time",
            f"{n / hooked:,.0f}",
            f"{n / baseline:,.0f}",
            f"POST /hooks/fno, journaled / GET /healthz; {hooked / baseline:.2f}x the time",
        )
        deadline = time.perf_counter() + TIMEOUT_S
        while not (self.inbox_empty() and not ((await status(api)) or {}).get("backlog", 1)):
            if time.perf_counter() > deadline:
                raise TimeoutError("timed out waiting for the daemon to apply the hook events")
            await anyio.sleep(0.05)

    def inbox_empty(self) -> bool:
        """The daemon's inbox of accepted events is empty: each went through the core."""
        with closing(sqlite3.connect(self.root / "fno-events.db", timeout=30)) as inbox:
            return bool(c.scalar(inbox, "SELECT count(*) FROM events") == 0)

    # -- end-to-end latency -----------------------------------------------------------

    async def latency(self, odata: httpx.AsyncClient, receiver: Receiver) -> None:
        m, rate = self.args.changes, self.args.rate
        await self.subscribe(receiver.url)  # first: the emitter posts to it before the daemon
        await self.subscribe(f"{self.daemon_url}/hooks/fno?code={HOOK_KEY}")
        sent: dict[str, float] = {}  # "<account> <new name>" -> just before its PATCH
        arrived: dict[str, float] = {}  # the same -> when the observer saw it in SQLite
        done = anyio.Event()

        async def observe() -> None:
            with closing(c.connect(self.root / "crm.db")) as crm:
                while not done.is_set() or len(arrived) < len(sent):
                    watch(crm, sent, arrived)
                    await anyio.sleep(c.POLL_S / 5)

        async with anyio.create_task_group() as group:
            group.start_soon(observe)
            started = time.perf_counter()
            for i in range(m):  # each change a row of its own (m <= rows)
                await anyio.sleep(max(0.0, started + i / rate - time.perf_counter()))
                sent[f"C{i:07} L{i}"] = time.perf_counter()
                await patch_name(odata, f"C{i:07}", f"L{i}")
            done.set()
            await until(lambda: len(arrived) == m and receiver.count >= m, "every change")
        end_to_end = [arrived[k] - t for k, t in sent.items()]
        delivery = [receiver.first[k.split()[0]][0] - t for k, t in sent.items()]
        for label, p in (("p50", 0.50), ("p99", 0.99)):
            e2e, own = quantile(end_to_end, p), quantile(delivery, p)
            self.add(
                f"latency {label}: ms, {m} at {rate:g}/s",
                f"{e2e * 1000:.1f}",
                f"{own * 1000:.1f}",
                f"F&O change -> SQLite row / -> data event at a bare receiver ({e2e / own:.1f}x)",
            )

    async def subscribe(self, endpoint: str) -> None:
        admin = {"Authorization": f"Bearer {self.fno['admin_key']}"}
        body = {"endpoint": endpoint, "entity_set": "CustomersV3", "events": ["update"]}
        async with httpx.AsyncClient(base_url=self.fno["url"], verify=self.tls) as emulator:
            reply = await emulator.post("/_emulator/subscriptions", json=body, headers=admin)
        if reply.status_code != 201:
            raise RuntimeError(f"subscribing {endpoint.split('?')[0]}: {reply.text}")

    def add(self, what: str, figure: str, baseline: str, note: str) -> None:
        self.lines.append((what, figure, baseline, note))


def data_event(row: int, event_id: str) -> bytes:
    """A data event (the emulator's business-event envelope) of seeded row ``row``."""
    event = {
        "BusinessEventId": "CustomersV3_Update",
        "ControlNumber": row,
        "EventId": event_id,
        "EventType": "Update",
        "EntitySetName": "CustomersV3",
        "Keys": {"dataAreaId": "usmf", "CustomerAccount": f"C{row:07}"},
    }
    return json.dumps(event).encode()


def watch(crm: sqlite3.Connection, sent: dict[str, float], arrived: dict[str, float]) -> None:
    """Note the time each sent name first shows in SQLite."""
    waiting = [k for k in sent if k not in arrived]
    if not waiting:
        return
    now = time.perf_counter()
    accounts = {k.split()[0] for k in waiting}
    marks = ",".join("?" * len(accounts))
    query = f"SELECT accountnumber, name FROM accounts WHERE accountnumber IN ({marks})"
    for account, name in crm.execute(query, sorted(accounts)).fetchall():
        key = f"{account} {name}"
        if key in sent and key not in arrived:
            arrived[key] = now


async def patch_name(odata: httpx.AsyncClient, account: str, name: str) -> None:
    path = f"CustomersV3(dataAreaId='usmf',CustomerAccount='{account}')"
    body = {"OrganizationName": name}
    reply = await odata.patch(path, params={"cross-company": "true"}, json=body)
    if reply.status_code >= 300:
        raise RuntimeError(f"PATCH {path}: {reply.status_code} {reply.text}")


async def raw_scan(odata: httpx.AsyncClient) -> int:
    """Page through every customer as the side's scan does: ``cross-company``, the mapped
    fields, ordered by key, 1,000 a page (the pass's page: ``[engine] batch_size``)."""
    prefer = {"Prefer": f"odata.maxpagesize={PAGE}"}
    select = "dataAreaId,CustomerAccount,OrganizationName,CreditLimit"
    order = "dataAreaId,CustomerAccount"
    url: str | None = f"CustomersV3?cross-company=true&$select={select}&$orderby={order}"
    pages = 0
    while url is not None:
        reply = await odata.get(url, headers=prefer, timeout=TIMEOUT_S)
        reply.raise_for_status()
        pages += 1
        url = reply.json().get("@odata.nextLink")
    return pages


def requests_since(before: dict[str, int], after: dict[str, int]) -> int:
    """OData requests (reads, writes, batches) between two counts."""
    kinds = ("read", "write", "batch")
    return sum(after.get(k, 0) - before.get(k, 0) for k in kinds)


async def concurrently(call: Callable[[int], Awaitable[None]], n: int, width: int) -> float:
    """Seconds to make ``n`` calls, ``width`` at a time."""
    calls = iter(range(n))

    async def worker() -> None:
        for i in calls:
            await call(i)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(width):
            group.start_soon(worker)
    return time.perf_counter() - started


def quantile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` without blocking this process's servers; TimeoutError naming it."""
    deadline = time.perf_counter() + TIMEOUT_S
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {TIMEOUT_S:.0f} s waiting for {what}")
        await anyio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def emulator(root: Path, rows: int) -> Iterator[dict[str, str]]:
    """The emulator child, seeded; its connection (``emulator.json``) once it serves."""
    argv = [sys.executable, str(BENCH / "_fno_emulator.py"), "--dir", str(root / "fno")]
    with Child([*argv, "--rows", str(rows)], root / "emulator.log") as child:
        connection = root / "fno" / "emulator.json"

        def serving() -> bool:
            child.check_running()
            return connection.exists() and connection.stat().st_size > 0

        c.wait_until(serving, "the emulator to serve", TIMEOUT_S, 0.05)
        yield json.loads(connection.read_text())
        child.stop()


def config(fno: dict[str, str], port: int) -> str:
    return CONFIG.format(
        port=port, url=fno["url"], tenant_id=fno["tenant_id"], client_id=fno["client_id"],
        secret_env=SECRET_ENV, authority=fno["authority"], ca_file=fno["ca_file"],
        hook_env=HOOK_ENV, page=PAGE,
    )  # fmt: skip


async def status(api: httpx.AsyncClient) -> dict[str, Any] | None:
    """The customers map's line of ``GET /api/status`` (None while the daemon starts)."""
    try:
        reply = await api.get("/api/status")
    except httpx.TransportError:
        return None
    if reply.status_code != 200:
        return None
    found: dict[str, Any] = reply.json()["maps"][0]
    return found


async def synced(api: httpx.AsyncClient, child: Child, rows: int) -> None:
    """Until the daemon has synced the map and linked every seeded customer."""
    deadline = time.perf_counter() + TIMEOUT_S
    while True:
        child.check_running()
        line = await status(api)
        if line and line["synced_at"] and line["links"] == rows and not line["backlog"]:
            return
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {TIMEOUT_S:.0f} s waiting for the initial sync")
        await anyio.sleep(0.1)


async def run(args: argparse.Namespace, root: Path) -> list[Line]:
    with emulator(root, args.rows) as fno:
        c.database(root / "crm.db", c.CRM).close()
        port = free_port()
        (root / "bench.toml").write_text(config(fno, port))
        os.environ[SECRET_ENV], os.environ[HOOK_ENV] = fno["client_secret"], HOOK_KEY
        bench = Bench(args, root, fno)
        bench.daemon_url = f"http://127.0.0.1:{port}"
        with daemon(root) as child:
            token = await odata_token(fno)
            async with (
                httpx.AsyncClient(
                    base_url=f"{fno['url']}/data/", verify=bench.tls, timeout=60,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                ) as odata,
                httpx.AsyncClient(base_url=bench.daemon_url, timeout=60) as api,
                Receiver.serving() as receiver,
            ):  # fmt: skip
                await synced(api, child, args.rows)
                await bench.reconcile(odata, api)
                await bench.hooks(api)
                await bench.latency(odata, receiver)
            child.stop()
        if lines := [x for x in child.output().splitlines() if "hook_refused" not in x]:
            print(f"the daemon logged {len(lines)} warnings: {lines[0]}", file=sys.stderr)
    return bench.lines


def table(lines: list[Line]) -> str:
    cells = [("measure", "figure", "baseline", "what / baseline"), *lines]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="seeded customers (10,000)")
    parser.add_argument("--changes", type=int, default=300, help="F&O changes timed (300)")
    parser.add_argument("--rate", type=float, default=20.0, help="changes a second (20)")
    parser.add_argument("--events", type=int, default=2000, help="events POSTed (2,000)")
    parser.add_argument("--concurrency", type=int, default=16, help="POSTs at a time (16)")
    args = parser.parse_args(argv)
    if args.changes > args.rows:
        parser.error(f"--changes ({args.changes}) may not exceed --rows ({args.rows})")
    for name in ("rows", "changes", "rate", "events", "concurrency"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive, got {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-fno-") as tmp:
        lines = anyio.run(run, args, Path(tmp))
    print(
        f"F&O emulator, daemon and this process (load, observer, bare receiver) apart; "
        f"{args.rows:,} customers, F&O feed = events <-> SQLite."
    )
    print(table(lines))
    print(f"({time.perf_counter() - started:.0f} s in all, the initial sync of the rows in it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
