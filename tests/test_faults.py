"""Nothing lost, nothing stuck: retries, the error queue, pause/resume, alerts, outages, bad input.

In-process, with memory sides where the behaviour is the core's, and with SQLite files
where it is about SQLite (constraints, locks, tables altered under the daemon).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog

from adapters.memory import MemorySide
from conftest import COMPANY_CUSTOMERS_MAP, GROUPS_MAP, until, write_config
from daemon import connect, create_db, query
from daemon import write_config as write_sqlite_config
from replicator import engine
from replicator.adapter import Values, WriteOp, WriteResult
from replicator.engine import Replicator
from replicator.errors import ConfigError, TransientError
from replicator.model import ErrorEntry
from replicator.operations import Operations
from replicator.pipeline import journal

pytestmark = pytest.mark.anyio

TIMEOUT_S = 10.0
FNO, CRM = "CustomersV3", "accounts"


# -- helpers ---------------------------------------------------------------------------------


class FaultySide(MemorySide):
    """A memory side that records every write call and answers some items as told.

    ``refuse(op)`` may return a ``WriteResult`` for an item (else it is applied);
    ``raise_next`` holds exceptions the next ``write`` calls raise (whole-batch failures).
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.calls: list[tuple[float, list[WriteOp]]] = []
        self.refuse: Callable[[WriteOp], WriteResult | None] = lambda op: None
        self.raise_next: list[Exception] = []

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self.calls.append((time.monotonic(), list(ops)))
        if self.raise_next:
            raise self.raise_next.pop(0)
        out = []
        for op in ops:
            refused = self.refuse(op)
            out.append(refused if refused is not None else (await super().write([op]))[0])
        return out


def fno_customer(account: str, **values: Any) -> Values:
    return {"dataAreaId": "usmf", "CustomerAccount": account, **values}


def crm_account(account: str, **values: Any) -> Values:
    return {"company": "usmf", "accountnumber": account, **values}


def rows_by_key(side: MemorySide, entity: str, key_field: str) -> dict[str, Values]:
    """A side's rows of ``entity`` by integration key (fails on a duplicate key)."""
    out: dict[str, Values] = {}
    for values in side.rows(entity).values():
        assert values[key_field] not in out, f"duplicate {values[key_field]} on {side.name}"
        out[values[key_field]] = values
    return out


def fno_rows(fno: MemorySide) -> dict[str, Values]:
    return rows_by_key(fno, FNO, "CustomerAccount")


def crm_rows(crm: MemorySide) -> dict[str, Values]:
    return rows_by_key(crm, CRM, "accountnumber")


def crm_id(crm: MemorySide, account: str) -> str:
    return next(n for n, v in crm.rows(CRM).items() if v["accountnumber"] == account)


def fno_id(fno: MemorySide, account: str) -> str:
    return next(n for n, v in fno.rows(FNO).items() if v["CustomerAccount"] == account)


async def idle(rep: Replicator) -> None:
    """Wait (bounded) until all that the sides did is replicated and quiet."""
    with anyio.fail_after(TIMEOUT_S):
        await rep.wait_idle()


async def map_status(rep: Replicator, name: str = "customers") -> dict[str, Any]:
    status = await rep.status()
    return dict(next(m for m in status["maps"] if m["map"] == name))


async def backlog_reaches(rep: Replicator, count: int, name: str = "customers") -> None:
    """Wait until ``count`` changes of a map wait in the journal."""

    async def reached() -> bool:
        return int((await map_status(rep, name))["backlog"]) >= count

    await until(reached)


async def retry_all(rep: Replicator) -> None:
    """``replicator errors retry --all``'s operation on the running engine, and wait for it."""
    async with Operations(rep.config, replicator=rep) as ops:
        await ops.retry(None)
    await until(lambda: _journal_empty(rep))
    await idle(rep)


async def _journal_empty(rep: Replicator) -> bool:
    return all(m["backlog"] == 0 for m in (await rep.status())["maps"])


async def errors(rep: Replicator) -> list[ErrorEntry]:
    return await rep.ctx.store.errors()


def events(logs: list[dict[str, Any]], name: str, **fields: Any) -> list[dict[str, Any]]:
    """The captured log events called ``name`` with ``fields``."""
    return [e for e in logs if e["event"] == name and all(e.get(k) == v for k, v in fields.items())]


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """The structured log events of the test (structlog's capture)."""
    with structlog.testing.capture_logs() as captured:
        yield captured  # type: ignore[misc]  # MutableMapping events, read as dicts


@pytest.fixture
def fast_control(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's control loop (alerts, outages, CLI requests) ticks every 20 ms."""
    monkeypatch.setattr(engine, "CONTROL_POLL_S", 0.02)


@asynccontextmanager
async def running(cfg: Path, fno: MemorySide, crm: MemorySide) -> AsyncIterator[Replicator]:
    """A replicator over two memory sides, idle once started."""
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        await idle(rep)
        yield rep


# -- 2. errors classified: transient retried, permanent queued --------------------------------


async def test_transient_failures_are_retried_with_exponential_backoff_and_jitter(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """Each retry waits about twice as long as the one before, randomised; then it applies once."""
    fno, crm = MemorySide("fno"), FaultySide("crm")
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        crm.fail_writes(4, "transient")
        fno.insert(FNO, fno_customer("C1", Name="Contoso"))
        await idle(rep)
        assert crm_rows(crm)["C1"]["name"] == "Contoso"
        assert await errors(rep) == []
    retries = events(logs, "retrying", map="customers")
    assert [e["attempt"] for e in retries] == [1, 2, 3, 4]
    assert all(e["side"] == "fno" and "injected" in e["reason"] for e in retries)
    scaled = [e["delay_s"] / 2 ** e["attempt"] for e in retries]  # constant if exponential
    assert max(scaled) <= 3 * min(scaled), f"not exponential: {[e['delay_s'] for e in retries]}"
    assert len(set(scaled)) == len(scaled), "no jitter: the delays follow a fixed schedule"
    times = [t for t, _ in crm.calls]
    for e, before, after in zip(retries, times, times[1:], strict=False):
        assert after - before >= e["delay_s"] * 0.95, "retried before its delay was up"
    assert crm.writes == 1


async def test_retry_after_of_a_throttled_item_is_honoured(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """An item answered ``transient`` with Retry-After 0.5 s is not retried sooner."""
    fno, crm = MemorySide("fno"), FaultySide("crm")
    throttled = [True]

    def throttle(op: WriteOp) -> WriteResult | None:
        if throttled.pop() if throttled else False:
            return WriteResult("transient", reason="429 Too Many Requests", retry_after=0.5)
        return None

    crm.refuse = throttle
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        fno.insert(FNO, fno_customer("C1", Name="Contoso"))
        await idle(rep)
        assert crm_rows(crm)["C1"]["name"] == "Contoso"
    (retry,) = events(logs, "retrying")
    assert retry["delay_s"] >= 0.5 and "429" in retry["reason"]
    assert crm.calls[1][0] - crm.calls[0][0] >= 0.5


async def test_retry_after_of_a_throttled_batch_is_honoured(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """A whole batch refused with ``TransientError(retry_after=0.5)`` waits 0.5 s, then applies."""
    fno, crm = MemorySide("fno"), FaultySide("crm")
    crm.raise_next.append(TransientError("429 Too Many Requests", retry_after=0.5))
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        fno.insert(FNO, fno_customer("C1", Name="Contoso"))
        await idle(rep)
        assert crm_rows(crm)["C1"]["name"] == "Contoso"
    (retry,) = events(logs, "retrying")
    assert retry["delay_s"] >= 0.5
    assert crm.calls[1][0] - crm.calls[0][0] >= 0.5


async def test_permanent_failure_is_queued_with_its_full_context(tmp_path: Path) -> None:
    """A refused record is queued with map, key, side, change, reason, attempts, first/last seen."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        crm.fail_writes(1, "permanent", reason="credit limit too high")
        before = time.time()
        nid = fno.insert(FNO, fno_customer("C1", Name="Contoso", CreditLimit=9e9))
        await idle(rep)
        (error,) = await errors(rep)
        assert (error.map, error.key, error.side, error.native_id) == (
            "customers",
            '["usmf","C1"]',
            0,
            nid,
        )
        assert error.kind == "permanent" and "credit limit too high" in error.reason
        assert error.attempts == 1
        assert before <= error.first_seen == error.last_seen <= time.time()
        assert error.change is not None and error.change.entity == FNO
        assert error.change.native_id == nid and error.change.op == "upsert"

        crm.fail_writes(1, "permanent", reason="still too high")
        fno.update(FNO, nid, {"CreditLimit": 8e9})
        await idle(rep)
        (again,) = await errors(rep)
        assert again.id == error.id and again.attempts == 2
        assert again.first_seen == error.first_seen < again.last_seen
        assert "still too high" in again.reason

        fno.update(FNO, nid, {"CreditLimit": 1000.0})
        await idle(rep)
        assert crm_rows(crm)["C1"]["creditlimit"] == 1000.0
        assert await errors(rep) == [], "a record that went through is no longer in error"


async def test_a_record_retrying_transiently_does_not_hold_up_the_others(tmp_path: Path) -> None:
    """While one record's writes keep failing transiently, other records arrive."""
    fno, crm = MemorySide("fno"), FaultySide("crm")
    stuck = [True]
    crm.refuse = lambda op: (
        WriteResult("transient", reason="row locked")
        if stuck[0] and op.values.get("accountnumber") == "C1"
        else None
    )
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        fno.insert(FNO, fno_customer("C1", Name="stuck"))
        await until(lambda: len(crm.calls) >= 2)  # C1 failed and was retried
        for i in range(2, 6):
            fno.insert(FNO, fno_customer(f"C{i}", Name=f"N{i}"))
        await until(lambda: set(crm_rows(crm)) == {"C2", "C3", "C4", "C5"})
        stuck[0] = False
        await idle(rep)
        assert crm_rows(crm)["C1"]["name"] == "stuck"


async def test_a_stuck_record_with_a_full_mailbox_does_not_hold_up_the_others(
    tmp_path: Path,
) -> None:
    """Many changes queued behind a record stuck in retries do not stop other records."""
    fno, crm = MemorySide("fno"), FaultySide("crm")
    stuck = [True]
    crm.refuse = lambda op: (
        WriteResult("transient", reason="row locked")
        if stuck[0] and op.values.get("accountnumber") == "C1"
        else None
    )
    cfg = write_config(tmp_path, "[engine]\nmailbox_size = 4\n\n" + COMPANY_CUSTOMERS_MAP)
    async with running(cfg, fno, crm) as rep:
        nid = fno.insert(FNO, fno_customer("C1", Name="stuck"))
        await until(lambda: len(crm.calls) >= 2)
        for i in range(10):
            fno.update(FNO, nid, {"CreditLimit": float(i)})
        fno.insert(FNO, fno_customer("C2", Name="free"))
        try:
            await until(lambda: "C2" in crm_rows(crm))
        finally:
            stuck[0] = False
            await idle(rep)


# -- 4. pause and resume ------------------------------------------------------------------------


async def test_a_paused_map_keeps_capturing_and_catches_up_in_order_on_resume(
    tmp_path: Path,
) -> None:
    """Changes made while a map is paused wait in the journal; resume applies them in order."""
    fno, crm = MemorySide("fno"), FaultySide("crm")
    async with running(write_config(tmp_path, GROUPS_MAP + COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        await rep.pause("customers")
        assert (await map_status(rep))["state"] == "paused"
        nid = fno.insert(FNO, fno_customer("C1", Name="v0"))
        await backlog_reaches(rep, 1)
        for n in range(1, 4):
            fno.update(FNO, nid, {"Name": f"v{n}"})
            await backlog_reaches(rep, 1 + n)
        crm.insert(CRM, crm_account("C2", name="from crm"))
        await backlog_reaches(rep, 5)
        fno.insert("CustCustomerGroup", {"dataAreaId": "usmf", "CustomerGroupId": "10"})
        await until(lambda: len(crm.rows("msdyn_customergroups")) == 1)  # others flow
        assert crm_rows(crm).keys() == {"C2"} and fno_rows(fno).keys() == {"C1"}

        await rep.resume("customers")
        await idle(rep)
        assert (await map_status(rep))["backlog"] == 0
    assert crm_rows(crm)["C1"]["name"] == "v3"
    assert fno_rows(fno)["C2"]["Name"] == "from crm"
    names = [op.values["name"] for _, ops in crm.calls for op in ops if "name" in op.values]
    written = [n for n in names if n.startswith("v")]
    assert written[-1] == "v3" and written == sorted(written), f"out of order: {written}"


async def test_a_delete_racing_an_edit_while_paused_wins_on_resume(tmp_path: Path) -> None:
    """crm deletes a record, then fno edits it, while paused: on resume it is gone on both."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        nid = fno.insert(FNO, fno_customer("C1", Name="v0"))
        await idle(rep)
        await rep.pause("customers")
        crm.delete(CRM, crm_id(crm, "C1"))
        await backlog_reaches(rep, 1)
        fno.update(FNO, nid, {"Name": "edited after the delete"})
        await backlog_reaches(rep, 2)
        await rep.resume("customers")
        await idle(rep)
        assert fno_rows(fno) == {} and crm_rows(crm) == {}, "the delete did not win"


# -- 5. alerts ------------------------------------------------------------------------------------


async def test_an_alert_pauses_its_map_logs_it_and_shows_in_status(
    tmp_path: Path, logs: list[dict[str, Any]], fast_control: None
) -> None:
    """Three errors within the alert's window pause the map, with an event and the reason."""
    alert = 'alerts = [{ errors = 3, minutes = 15, action = "pause" }]\n'
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP + alert), fno, crm) as rep:
        crm.fail_writes(2, "permanent")
        for i in range(2):
            fno.insert(FNO, fno_customer(f"C{i}", Name="refused"))
        await idle(rep)
        await until(lambda: len(events(logs, "change", outcome="error")) == 2)
        assert (await map_status(rep))["state"] == "running", "fired below the threshold"
        crm.fail_writes(1, "permanent")
        fno.insert(FNO, fno_customer("C2", Name="refused"))

        async def paused() -> bool:
            return bool((await map_status(rep))["state"] == "paused")

        await until(paused)
        status = await map_status(rep)
        assert status["paused_reason"] == "alert: 3 errors in 15 minutes (threshold 3)"
        (event,) = events(logs, "alert")
        assert (event["map"], event["errors"], event["threshold"]) == ("customers", 3, 3)
        assert (event["action"], event["minutes"], event["log_level"]) == ("pause", 15, "error")

        fno.insert(FNO, fno_customer("C3", Name="captured while paused"))
        await backlog_reaches(rep, 1)
        assert "C3" not in crm_rows(crm)
        await rep.resume("customers")
        await idle(rep)
        assert crm_rows(crm)["C3"]["name"] == "captured while paused"


async def test_an_alert_with_the_log_action_only_logs(
    tmp_path: Path, logs: list[dict[str, Any]], fast_control: None
) -> None:
    """``action = "log"`` logs the alert and leaves the map running."""
    alert = 'alerts = [{ errors = 1, minutes = 5, action = "log" }]\n'
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP + alert), fno, crm) as rep:
        crm.fail_writes(1, "permanent")
        fno.insert(FNO, fno_customer("C1", Name="refused"))
        await until(lambda: bool(events(logs, "alert")))
        assert events(logs, "alert")[0]["action"] == "log"
        fno.insert(FNO, fno_customer("C2", Name="flows"))
        await idle(rep)
        assert crm_rows(crm)["C2"]["name"] == "flows"
        assert (await map_status(rep))["state"] == "running"


# -- 6. a side goes away ---------------------------------------------------------------------


async def test_an_outage_shows_in_status_with_its_length_and_everything_catches_up(
    tmp_path: Path, logs: list[dict[str, Any]], fast_control: None
) -> None:
    """While crm is down fno keeps capturing; status shows the outage growing; then all arrives."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        crm.down = True
        fno.insert(FNO, fno_customer("C1", Name="from fno"))
        crm.insert(CRM, crm_account("C2", name="from crm"))  # crm's own apps keep working
        await backlog_reaches(rep, 1)

        async def down_for(seconds: float) -> bool:
            outage = (await rep.status())["outages"].get("crm")
            return outage is not None and outage["seconds"] >= seconds

        await until(lambda: down_for(0.3))
        assert "fno" not in (await rep.status())["outages"]
        assert events(logs, "side_down", side="crm")
        assert "C1" not in crm_rows(crm)

        crm.down = False
        await idle(rep)
        assert crm_rows(crm)["C1"]["name"] == "from fno"
        assert fno_rows(fno)["C2"]["Name"] == "from crm"
        assert (await rep.status())["outages"] == {}
        (up,) = events(logs, "side_up", side="crm")
        assert up["outage_s"] >= 0.3
        assert await errors(rep) == []


class WaitWatchingSide(MemorySide):
    """A memory side that knows how long the wait for changes it is in may last."""

    waiting_s: float | None = None

    async def wait_for_changes(self, max_wait: float) -> None:
        self.waiting_s = max_wait
        try:
            await super().wait_for_changes(max_wait)
        finally:
            self.waiting_s = None


async def test_a_memory_side_going_down_ends_a_long_wait_for_changes() -> None:
    """An idle feed's wait ends with the outage the moment the side goes down."""
    crm = MemorySide("crm")
    await crm.read_changes(None, 100)
    ended: list[Exception] = []

    async def wait() -> None:
        try:
            await crm.wait_for_changes(3600.0)
        except TransientError as exc:
            ended.append(exc)

    with anyio.fail_after(TIMEOUT_S):
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            crm.down = True
    assert [str(e) for e in ended] == ["side 'crm' is down (memory outage fault)"]


async def test_a_side_going_down_while_its_feed_is_quiet_is_an_outage_at_once(
    tmp_path: Path, logs: list[dict[str, Any]], fast_control: None
) -> None:
    """With nothing to replicate, crm's intake in its longest wait still notices crm go down
    (status shows it) and logs the side's own reason."""
    fno, crm = MemorySide("fno"), WaitWatchingSide("crm")
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        await until(lambda: crm.waiting_s == journal.MAX_WAIT_S)
        crm.down = True

        async def shown() -> bool:
            return "crm" in (await rep.status())["outages"]

        await until(shown, limit_s=journal.MAX_WAIT_S / 4)
        (down,) = events(logs, "side_down", side="crm")
        assert down["reason"] == "side 'crm' is down (memory outage fault)"
        crm.down = False
        await idle(rep)
        assert (await rep.status())["outages"] == {}


SQLITE_FNO = """
CREATE TABLE CustomersV3 (RecId INTEGER PRIMARY KEY, dataAreaId TEXT NOT NULL,
    CustomerAccount TEXT NOT NULL, Name TEXT, CreditLimit REAL,
    UNIQUE (dataAreaId, CustomerAccount));
"""
SQLITE_CRM = """
CREATE TABLE accounts (accountid TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))),
    company TEXT NOT NULL, accountnumber TEXT NOT NULL, name TEXT NOT NULL,
    creditlimit REAL CHECK (creditlimit >= 0));
"""
FNO_SQL = "SELECT CustomerAccount, Name, CreditLimit FROM CustomersV3 ORDER BY 1"
CRM_SQL = "SELECT accountnumber, name, creditlimit FROM accounts ORDER BY 1"


def sqlite_sides(tmp_path: Path, maps: str = COMPANY_CUSTOMERS_MAP, crm_options: str = "") -> Path:
    """SQLite files fno.db and crm.db with customers tables, and a config mapping them."""
    create_db(tmp_path / "fno.db", SQLITE_FNO)
    create_db(tmp_path / "crm.db", SQLITE_CRM)
    cfg = write_sqlite_config(tmp_path, maps)
    if crm_options:
        text = cfg.read_text(encoding="utf-8")
        cfg.write_text(text.replace('path = "crm.db"\n', f'path = "crm.db"\n{crm_options}'))
    return cfg


def sql(path: Path, statement: str, params: Sequence[Any] = ()) -> None:
    """One statement on a side file, as another application (foreign keys on)."""
    conn = connect(path)
    try:
        conn.execute(statement, params)
    finally:
        conn.close()


def add_customer(tmp_path: Path, account: str, name: str | None, limit: float = 1.0) -> None:
    sql(
        tmp_path / "fno.db",
        "INSERT INTO CustomersV3 (dataAreaId, CustomerAccount, Name, CreditLimit) "
        "VALUES ('usmf', ?, ?, ?)",
        (account, name, limit),
    )


async def test_a_locked_sqlite_side_delays_writes_and_loses_nothing(tmp_path: Path) -> None:
    """While another process holds crm.db's write lock, fno's changes wait, then all arrive."""
    cfg = sqlite_sides(tmp_path, crm_options="busy_timeout_ms = 20\n")
    async with Replicator(cfg) as rep:
        await idle(rep)
        blocker = connect(tmp_path / "crm.db")
        try:
            blocker.execute("BEGIN IMMEDIATE")
            add_customer(tmp_path, "C1", "while locked")
            await backlog_reaches(rep, 1)
            assert query(tmp_path / "crm.db", CRM_SQL) == []
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await idle(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C1", "while locked", 1.0)]
        assert await errors(rep) == []


async def test_a_locked_sqlite_side_shows_as_an_outage_in_status(tmp_path: Path) -> None:
    """A side whose writes fail with "database is locked" shows in status as an outage."""
    cfg = sqlite_sides(tmp_path, crm_options="busy_timeout_ms = 20\n")
    async with Replicator(cfg) as rep:
        await idle(rep)
        blocker = connect(tmp_path / "crm.db")
        try:
            blocker.execute("BEGIN IMMEDIATE")
            add_customer(tmp_path, "C1", "while locked")

            async def shown() -> bool:
                return "crm" in (await rep.status())["outages"]

            await until(shown)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await idle(rep)


async def test_a_missing_side_file_is_an_outage_not_a_failed_start(tmp_path: Path) -> None:
    """Started while crm.db is missing, the daemon runs, shows the outage, and catches up."""
    cfg = sqlite_sides(tmp_path)
    (tmp_path / "crm.db").rename(tmp_path / "crm.away")
    async with Replicator(cfg) as rep:
        add_customer(tmp_path, "C1", "while missing")
        await until(lambda: _outage(rep, "crm"))
        (tmp_path / "crm.away").rename(tmp_path / "crm.db")
        await idle(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C1", "while missing", 1.0)]


async def _outage(rep: Replicator, side: str) -> bool:
    return side in (await rep.status())["outages"]


# -- 7. bad input while running ------------------------------------------------------------


async def test_a_value_the_target_refuses_is_queued_and_the_rest_flows(tmp_path: Path) -> None:
    """A CHECK failure on crm queues the record with SQLite's reason; fixed at fno, it goes."""
    async with Replicator(sqlite_sides(tmp_path)) as rep:
        await idle(rep)
        add_customer(tmp_path, "C1", "negative", -5.0)
        add_customer(tmp_path, "C2", "fine", 5.0)
        await idle(rep)
        (error,) = await errors(rep)
        assert (error.map, error.key, error.side, error.kind) == (
            "customers",
            '["usmf","C1"]',
            0,
            "permanent",
        )
        assert "'crm'" in error.reason and "accounts" in error.reason
        assert "CHECK constraint failed" in error.reason
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C2", "fine", 5.0)]
        sql(
            tmp_path / "fno.db",
            "UPDATE CustomersV3 SET CreditLimit = 7 WHERE CustomerAccount = 'C1'",
        )
        await idle(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C1", "negative", 7.0), ("C2", "fine", 5.0)]
        assert await errors(rep) == []


async def test_null_into_not_null_is_queued_and_arrives_once_filled(tmp_path: Path) -> None:
    """A NULL for crm's NOT NULL column queues the record; once fno fills it, it arrives."""
    async with Replicator(sqlite_sides(tmp_path)) as rep:
        await idle(rep)
        add_customer(tmp_path, "C1", None)
        await idle(rep)
        (error,) = await errors(rep)
        assert "NOT NULL constraint failed: accounts.name" in error.reason
        assert query(tmp_path / "crm.db", CRM_SQL) == []
        sql(
            tmp_path / "fno.db",
            "UPDATE CustomersV3 SET Name = 'named' WHERE CustomerAccount = 'C1'",
        )
        await idle(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C1", "named", 1.0)]
        assert await errors(rep) == []


async def test_a_column_dropped_under_the_daemon_queues_records_and_loses_nothing(
    tmp_path: Path, fast_control: None
) -> None:
    """A mapped column dropped on crm queues records (no crash); restored, a retry sends them."""
    async with Replicator(sqlite_sides(tmp_path)) as rep:
        await idle(rep)
        sql(tmp_path / "crm.db", "ALTER TABLE accounts DROP COLUMN creditlimit")
        add_customer(tmp_path, "C1", "during the change")
        await idle(rep)
        (error,) = await errors(rep)
        assert "no such column" in error.reason and "creditlimit" in error.reason
        assert "'crm'" in error.reason
        sql(tmp_path / "crm.db", "ALTER TABLE accounts ADD COLUMN creditlimit REAL")
        await retry_all(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C1", "during the change", 1.0)]
        assert await errors(rep) == []


async def test_a_column_dropped_with_unread_changes_is_an_outage_and_loses_nothing(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """crm's feed unreadable (a mapped column dropped): crm shows as down; restored, all flows."""
    async with Replicator(sqlite_sides(tmp_path)) as rep:
        add_customer(tmp_path, "C1", "v0")
        await idle(rep)
        conn = connect(tmp_path / "crm.db")
        try:  # the edit and the drop in one transaction: the intake reads the edit after it
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE accounts SET name = 'edited on crm' WHERE accountnumber = 'C1'")
            conn.execute("ALTER TABLE accounts DROP COLUMN creditlimit")
            conn.execute("COMMIT")
        finally:
            conn.close()
        await until(lambda: _outage(rep, "crm"))
        (down,) = events(logs, "side_down", side="crm")
        assert "no such column" in down["reason"] and "creditlimit" in down["reason"]
        add_customer(tmp_path, "C2", "fno keeps flowing")
        await until(lambda: bool(events(logs, "change", key='["usmf","C2"]')))
        sql(tmp_path / "crm.db", "ALTER TABLE accounts ADD COLUMN creditlimit REAL DEFAULT 1")
        await idle(rep)  # restored (with its old values): the edit read before flows now
        assert query(tmp_path / "fno.db", FNO_SQL)[0] == ("C1", "edited on crm", 1.0)
        assert not await _outage(rep, "crm")


CRM_ACCOUNTS_TABLE = SQLITE_CRM.strip()


async def test_a_table_dropped_under_the_daemon_queues_records_and_loses_nothing(
    tmp_path: Path, fast_control: None
) -> None:
    """crm's table dropped: records are queued ("no such table"); re-created, a retry sends them."""
    async with Replicator(sqlite_sides(tmp_path)) as rep:
        await idle(rep)
        sql(tmp_path / "crm.db", "DROP TABLE accounts")
        add_customer(tmp_path, "C1", "while dropped")
        await idle(rep)
        (error,) = await errors(rep)
        assert "no such table: accounts" in error.reason and "'crm'" in error.reason
        sql(tmp_path / "crm.db", CRM_ACCOUNTS_TABLE)
        await retry_all(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C1", "while dropped", 1.0)]
        assert await errors(rep) == []


async def test_rows_written_to_a_re_created_table_are_captured(tmp_path: Path) -> None:
    """After crm's table is dropped and re-created, a row inserted into it reaches fno."""
    async with Replicator(sqlite_sides(tmp_path)) as rep:
        await idle(rep)
        sql(tmp_path / "crm.db", "DROP TABLE accounts")
        sql(tmp_path / "crm.db", CRM_ACCOUNTS_TABLE)
        sql(
            tmp_path / "crm.db",
            "INSERT INTO accounts (company, accountnumber, name) VALUES ('usmf', 'K1', 'new')",
        )
        await until(lambda: bool(query(tmp_path / "fno.db", FNO_SQL)))


NAME_ONLY = COMPANY_CUSTOMERS_MAP.replace('  { fno = "CreditLimit", crm = "creditlimit" },\n', "")


async def linked_customer_with_name_only(tmp_path: Path) -> tuple[MemorySide, MemorySide]:
    """C1 linked under a config that maps Name only; its credit limits differ (5 and 7)."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    fno.insert(FNO, fno_customer("C1", Name="a", CreditLimit=5.0))
    crm.insert(CRM, crm_account("C1", name="a", creditlimit=7.0))
    async with running(write_config(tmp_path, NAME_ONLY), fno, crm):
        pass
    return fno, crm


async def test_a_field_added_between_restarts_flows_from_the_next_change(tmp_path: Path) -> None:
    """A field added to the map is carried by the records' next changes, either way."""
    fno, crm = await linked_customer_with_name_only(tmp_path)
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with running(cfg, fno, crm) as rep:
        fno.update(FNO, fno_id(fno, "C1"), {"Name": "b"})
        crm.insert(CRM, crm_account("C2", name="new", creditlimit=3.0))
        await idle(rep)
        assert await errors(rep) == []
    assert crm_rows(crm)["C1"] == crm_account("C1", name="b", creditlimit=5.0)
    assert fno_rows(fno)["C2"] == fno_customer("C2", Name="new", CreditLimit=3.0)


async def test_replicator_sync_brings_a_field_added_between_restarts_in_step(
    tmp_path: Path,
) -> None:
    """After adding a field, ``sync --map`` brings linked records in step (initial master wins)."""
    fno, crm = await linked_customer_with_name_only(tmp_path)
    async with Replicator(
        write_config(tmp_path, COMPANY_CUSTOMERS_MAP), sides={"fno": fno, "crm": crm}, live=False
    ) as rep:
        await rep.sync(["customers"])
    assert crm_rows(crm)["C1"]["creditlimit"] == 5.0


async def test_a_field_added_between_restarts_is_brought_in_step_for_linked_records(
    tmp_path: Path,
) -> None:
    """Restarted with a field added, the daemon brings the field in step for linked records."""
    fno, crm = await linked_customer_with_name_only(tmp_path)
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm):
        pass
    assert crm_rows(crm)["C1"]["creditlimit"] == 5.0


async def test_a_field_removed_between_restarts_stops_flowing_and_the_rest_flows(
    tmp_path: Path,
) -> None:
    """A field taken out of the map is no longer replicated; nothing writes its old value back."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    nid = fno.insert(FNO, fno_customer("C1", Name="a", CreditLimit=5.0))
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm):
        pass
    async with running(write_config(tmp_path, NAME_ONLY), fno, crm) as rep:
        fno.update(FNO, nid, {"CreditLimit": 6.0})
        await idle(rep)
        crm.update(CRM, crm_id(crm, "C1"), {"creditlimit": 9.0, "name": "b"})
        await idle(rep)
        assert await errors(rep) == []
    assert fno_rows(fno)["C1"] == fno_customer("C1", Name="b", CreditLimit=6.0)
    assert crm_rows(crm)["C1"] == crm_account("C1", name="b", creditlimit=9.0)


async def test_a_field_added_that_a_side_lacks_fails_the_start_naming_it(tmp_path: Path) -> None:
    """Restarted with a field the tables do not have, the start fails naming side, table, column."""
    cfg = sqlite_sides(tmp_path)
    async with Replicator(cfg) as rep:
        add_customer(tmp_path, "C1", "kept")
        await idle(rep)
    email = '  { fno = "Email", crm = "emailaddress1" },\n]'
    write_sqlite_config(tmp_path, COMPANY_CUSTOMERS_MAP.replace("\n]", "\n" + email, 1))
    with pytest.raises(ConfigError) as caught:
        async with Replicator(cfg):
            pass
    message = str(caught.value)
    assert "map 'customers'" in message and "side 'fno'" in message and "'Email'" in message
    assert query(tmp_path / "crm.db", CRM_SQL) == [("C1", "kept", 1.0)]
