"""One record's bug is that record's failure: queued with its exception, the rest flows.

An exception outside the errors tree (here a side double whose ``get`` raises a
``KeyError`` for one row, or a value a value map cannot hash) must not stop the engine
or the initial sync; a state-store failure stays fatal, with the store's message.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog

from adapters.memory import MemorySide
from conftest import COMPANY_CUSTOMERS_MAP, until, write_config
from replicator import cli
from replicator.adapter import ChangeBatch, Row, Values
from replicator.engine import Replicator
from replicator.errors import StoreError
from replicator.operations import Operations

pytestmark = pytest.mark.anyio

TIMEOUT_S = 10.0
FNO, CRM = "CustomersV3", "accounts"

STATES = """
[value_maps.state]
"Idaho" = "ID"

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "State", crm = "address1_stateorprovince", value_map = "state" } ]
"""


class BuggySide(MemorySide):
    """A memory side whose ``get`` raises ``KeyError`` for the accounts in ``broken``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.broken: set[str] = set()

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        rows = await super().get(entity, native_ids)
        for row in rows.values():
            if row.values.get("CustomerAccount") in self.broken:
                raise KeyError("ExtensionField")
        return rows


def customer(account: str) -> Values:
    return {"dataAreaId": "usmf", "CustomerAccount": account, "Name": account}


def accounts(crm: MemorySide) -> list[str]:
    return sorted(str(v["accountnumber"]) for v in crm.rows(CRM).values())


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """The structured log events of the test (structlog's capture)."""
    with structlog.testing.capture_logs() as captured:
        yield captured  # type: ignore[misc]  # MutableMapping events, read as dicts


async def idle(rep: Replicator) -> None:
    with anyio.fail_after(TIMEOUT_S):
        await rep.wait_idle()


async def retry_all(rep: Replicator) -> None:
    """``replicator errors retry --all``'s operation on the running engine, and wait for it."""
    async with Operations(rep.config, replicator=rep) as ops:
        await ops.retry(None)
    await idle(rep)


async def test_a_record_whose_handling_raises_is_queued_and_the_others_replicate(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """A KeyError for C2 queues C2 (type, message, map, key, side, change) and the engine
    goes on: C1 and C3, and C4 after it, replicate; the traceback is in the log only."""
    fno, crm = BuggySide("fno"), MemorySide("crm")
    fno.broken.add("C2")
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        for account in ("C1", "C2", "C3"):
            fno.insert(FNO, customer(account))
        await idle(rep)
        fno.insert(FNO, customer("C4"))
        await idle(rep)
        assert accounts(crm) == ["C1", "C3", "C4"]
        (error,) = await rep.ctx.store.errors()
    assert (error.map, error.side, error.key, error.kind) == (
        "customers",
        0,
        '["usmf","C2"]',
        "internal",
    )
    assert error.reason.startswith("unexpected KeyError: 'ExtensionField' (map 'customers', ")
    assert """key ["usmf","C2"], side 'fno', change """ in error.reason
    assert "Traceback" not in error.reason
    (failed,) = [e for e in logs if e["event"] == "record_failed"]
    assert (failed["map"], failed["side"], failed["error"]) == ("customers", "fno", "KeyError")
    assert isinstance(failed["exc_info"], KeyError), "the traceback goes to the log event"


async def test_a_record_queued_by_a_bug_goes_through_on_retry_once_fixed(tmp_path: Path) -> None:
    """Retried while the bug is still there (the router then reads the row), the record
    is queued again and nothing stops; retried once it is fixed, it replicates."""
    fno, crm = BuggySide("fno"), MemorySide("crm")
    fno.broken.add("C2")
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        fno.insert(FNO, customer("C2"))
        await idle(rep)
        await retry_all(rep)
        (error,) = await rep.ctx.store.errors()
        assert error.attempts == 2 and "unexpected KeyError" in error.reason
        fno.broken.clear()
        await retry_all(rep)
        assert accounts(crm) == ["C2"]
        assert await rep.ctx.store.errors() == []


async def test_a_retry_while_the_rows_side_is_away_waits_for_it_and_goes_through(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """The router cannot read a retried row (fno is down): the change waits in the journal,
    the map catches up once fno is back, and the record replicates; nothing stops."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        crm.fail_writes(1, "permanent")
        fno.insert(FNO, customer("C1"))
        await idle(rep)
        fno.down = True
        async with Operations(rep.config, replicator=rep) as ops:
            await ops.retry(None)
        await until(lambda: [e for e in logs if e["event"] == "retrying"])
        assert accounts(crm) == []
        fno.down = False
        await idle(rep)
        assert accounts(crm) == ["C1"]
        assert await rep.ctx.store.errors() == []


async def test_a_row_a_value_map_cannot_read_does_not_abort_the_initial_sync(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """A crm row whose state is a list (unhashable: the value map raises TypeError) is
    queued; the other rows of the map are synced."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    for account, state in (("K1", "ID"), ("K2", ["ID"]), ("K3", "ID")):
        crm.insert(CRM, {"accountnumber": account, "address1_stateorprovince": state})
    cfg = write_config(tmp_path, STATES)
    async with Replicator(
        cfg, sides={"fno": fno, "crm": crm}, initial_sync=False, live=False
    ) as rep:
        (report,) = await rep.sync()
        errors = await rep.ctx.store.errors()
    assert sorted((v["CustomerAccount"], v["State"]) for v in fno.rows(FNO).values()) == [
        ("K1", "Idaho"),
        ("K3", "Idaho"),
    ]
    assert report.errors == 1 and [(e.side, e.kind) for e in errors] == [(1, "internal")]
    assert errors[0].reason.startswith("unexpected TypeError: ")
    assert "map 'customers'" in errors[0].reason and "side 'crm'" in errors[0].reason
    assert [e["error"] for e in logs if e["event"] == "record_failed"] == ["TypeError"]


async def test_a_live_change_a_value_map_cannot_read_is_queued_and_the_rest_flows(
    tmp_path: Path,
) -> None:
    """Live, the same unreadable value (met by the router, which keys the row) queues only
    that record."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    cfg = write_config(tmp_path, STATES)
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        crm.insert(CRM, {"accountnumber": "K1", "address1_stateorprovince": ["ID"]})
        crm.insert(CRM, {"accountnumber": "K2", "address1_stateorprovince": "ID"})
        await idle(rep)
        (error,) = await rep.ctx.store.errors()
    assert [v["CustomerAccount"] for v in fno.rows(FNO).values()] == ["K2"]
    assert (error.side, error.kind) == (1, "internal") and "TypeError" in error.reason


class FlakyFeedSide(MemorySide):
    """A memory side whose feed raises ``ValueError`` (a bug of the adapter) ``fails`` times."""

    fails = 0

    async def read_changes(self, cursor: str | None, limit: int) -> ChangeBatch:
        if self.fails:
            self.fails -= 1
            raise ValueError("unexpected payload")
        return await super().read_changes(cursor, limit)


async def test_a_feed_that_raises_a_bug_is_an_outage_of_its_side_not_the_engines_end(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """An adapter's feed raising outside the errors tree takes that side down (logged with
    the exception, retried), not the engine; once it reads again, its changes replicate."""
    fno, crm = FlakyFeedSide("fno"), MemorySide("crm")
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        await idle(rep)
        fno.fails = 2
        fno.insert(FNO, customer("C1"))
        await until(lambda: accounts(crm) == ["C1"])
    (down,) = [e for e in logs if e["event"] == "side_down"]
    assert down["side"] == "fno" and down["reason"] == "ValueError: unexpected payload"
    assert isinstance(down["exc_info"], ValueError), "the traceback goes to the log event"


async def test_a_state_store_failure_stops_the_engine_with_the_stores_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit the store refuses is no record's failure: the engine stops, and the CLI
    shows one message naming the state store."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)

    async def broken(commits: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(BaseException) as raised:  # noqa: PT011 - checked just below
        async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
            await idle(rep)
            monkeypatch.setattr(rep.ctx.store, "commit", broken)
            fno.insert(FNO, customer("C1"))
            with anyio.fail_after(TIMEOUT_S):
                await anyio.Event().wait()  # until the engine's failure cancels it
    error = cli.sole_error(raised.value)
    assert isinstance(error, StoreError), raised.value
    assert str(error) == f"state store {tmp_path / 'state.db'}: cannot commit: disk I/O error"
