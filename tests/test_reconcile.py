"""Reconciliation passes on memory sides: what a lossy feed missed is replayed, nothing else."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog.testing

from adapters.memory import MemorySide, check_options, create_side
from conftest import stored_link, until, write_config
from replicator.adapter import Row, ScanPage
from replicator.config import load_config
from replicator.engine import Replicator
from replicator.errors import TransientError
from replicator.reconcile import PassReport, needs_replay

pytestmark = pytest.mark.anyio

IDLE_S = 10.0
FNO, CRM = "CustomersV3", "accounts"
CUSTOMERS = """
[value_maps.state]
"Idaho" = "ID"

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [
  { fno = "Name", crm = "name" },
  { fno = "AddressState", crm = "address1_stateorprovince", value_map = "state" },
  { fno = "Latitude", crm = "address1_latitude", direction = "fno->crm" },
  { fno = "LanguageId", crm = "msdyn_language", default = "en-us" },
]
"""


def customer(account: str, **values: Any) -> dict[str, Any]:
    return {"dataAreaId": "usmf", "CustomerAccount": account, **values}


def accounts(crm: MemorySide) -> dict[str, dict[str, Any]]:
    """crm's accounts by account number."""
    return {v["accountnumber"]: v for v in crm.rows(CRM).values()}


def native_id(side: MemorySide, entity: str, field: str, value: str) -> str:
    return next(nid for nid, v in side.rows(entity).items() if v[field] == value)


@asynccontextmanager
async def replicating(
    tmp_path: Path, fno: MemorySide, crm: MemorySide, rules: str = ""
) -> AsyncIterator[Replicator]:
    """A live replicator between ``fno`` and ``crm``, idle once the initial sync is done."""
    cfg = write_config(tmp_path, CUSTOMERS + rules)
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        await idle(rep)
        yield rep


async def idle(rep: Replicator) -> None:
    with anyio.fail_after(IDLE_S):
        await rep.wait_idle()


def seeded() -> tuple[MemorySide, MemorySide]:
    """fno with three customers (A, B, C) that the initial sync takes to crm."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    fno.insert(FNO, customer("A", Name="Alpha", AddressState="Idaho", Latitude=1.5))
    fno.insert(FNO, customer("B", Name="Beta"))
    fno.insert(FNO, customer("C", Name="Gamma"))
    return fno, crm


def lose_edits(fno: MemorySide) -> None:
    """On fno, with its feed losing every change: create D, update B, delete C."""
    fno.lose_changes(1.0)
    fno.insert(FNO, customer("D", Name="Delta"))
    fno.update(FNO, native_id(fno, FNO, "CustomerAccount", "B"), {"Name": "Beta 2"})
    fno.delete(FNO, native_id(fno, FNO, "CustomerAccount", "C"))
    fno.lose_changes(0)


def counts(reports: list[PassReport]) -> dict[str, tuple[int, int, int]]:
    """Per side: (scanned, replayed, deleted)."""
    return {r.side: (r.scanned, r.replayed, r.deleted) for r in reports}


async def test_a_pass_recovers_a_create_an_update_and_a_delete_the_feed_lost(
    tmp_path: Path,
) -> None:
    """The three lost changes reach crm after one pass, which counts them."""
    fno, crm = seeded()
    async with replicating(tmp_path, fno, crm) as rep:
        lose_edits(fno)
        await idle(rep)
        assert sorted(accounts(crm)) == ["A", "B", "C"]  # the feed did lose them
        assert accounts(crm)["B"]["name"] == "Beta"
        reports = await rep.reconcile()
        await idle(rep)
    assert counts(reports) == {"fno": (3, 2, 1), "crm": (3, 0, 0)}
    assert all(r.complete and not r.reason for r in reports)
    assert sorted(accounts(crm)) == ["A", "B", "D"]
    assert accounts(crm)["B"]["name"] == "Beta 2"
    assert accounts(crm)["D"]["name"] == "Delta"


async def test_a_pass_over_a_converged_map_replays_and_writes_nothing(tmp_path: Path) -> None:
    """Value maps, defaults and one-way fields in step: no replay, no write on either side."""
    fno, crm = seeded()
    crm.insert(CRM, {"company": "usmf", "accountnumber": "K", "name": "Kappa"})
    async with replicating(tmp_path, fno, crm) as rep:
        before = (fno.writes, crm.writes)
        with structlog.testing.capture_logs() as logs:
            reports = await rep.reconcile()
        await idle(rep)
        assert (fno.writes, crm.writes) == before
    assert counts(reports) == {"fno": (4, 0, 0), "crm": (4, 0, 0)}
    finished = [e for e in logs if e["event"] == "reconcile_finished"]
    assert [(e["map"], e["side"], e["scanned"]) for e in finished] == [
        ("customers", "fno", 4),
        ("customers", "crm", 4),
    ]
    assert all("seconds" in e and e["replayed"] == 0 for e in finished)


async def test_late_deliveries_and_second_passes_change_nothing(tmp_path: Path) -> None:
    """After a pass recovered the lost changes, their late delivery and another pass
    write nothing more (duplicates are no-ops)."""
    fno, crm = seeded()
    async with replicating(tmp_path, fno, crm) as rep:
        synced = crm.writes
        lose_edits(fno)
        await idle(rep)
        await rep.reconcile()
        await idle(rep)
        recovered = (fno.writes, crm.writes)
        assert recovered[1] - synced == 3  # the create, the update, the delete
        fno.deliver_lost()
        await idle(rep)
        again = await rep.reconcile()
        await idle(rep)
        assert (fno.writes, crm.writes) == recovered
    assert counts(again) == {"fno": (3, 0, 0), "crm": (3, 0, 0)}


class FailingScan(MemorySide):
    """A memory side whose scans fail after their first page while ``failing``."""

    failing = False

    async def scan(self, entity: str, page: str | None, limit: int) -> ScanPage:
        if self.failing and page is not None:
            raise TransientError(f"side {self.name!r}: the scan's next page timed out")
        return await super().scan(entity, page, limit)


async def test_a_failed_scan_deletes_nothing_and_the_next_pass_does(tmp_path: Path) -> None:
    """A lost delete is not inferred from a scan that stopped half-way (rows not seen are
    not rows gone); the pass says why it failed, and a full pass later replays it."""
    fno, crm = FailingScan("fno"), MemorySide("crm")
    for account in "ABCDE":
        fno.insert(FNO, customer(account, Name=account))
    async with replicating(tmp_path, fno, crm, "[engine]\nbatch_size = 2\n") as rep:
        fno.lose_changes(1.0)
        fno.delete(FNO, native_id(fno, FNO, "CustomerAccount", "E"))
        fno.lose_changes(0)
        fno.failing = True
        with structlog.testing.capture_logs() as logs:
            failed = (await rep.reconcile())[0]
        await idle(rep)
        assert "E" in accounts(crm)
        assert (failed.complete, failed.scanned, failed.deleted) == (False, 2, 0)
        assert "the scan's next page timed out" in failed.reason
        assert [e["reason"] for e in logs if e["event"] == "reconcile_failed"] == [failed.reason]
        fno.failing = False
        passed = (await rep.reconcile())[0]
        await idle(rep)
    assert (passed.complete, passed.scanned, passed.deleted, passed.pages) == (True, 4, 1, 2)
    assert "E" not in accounts(crm)


async def test_queued_parked_and_other_companies_rows_are_not_replayed(tmp_path: Path) -> None:
    """A row in the error queue (born on a side the create rule refuses) and a row of a
    company the map leaves out are left alone, pass after pass."""
    fno, crm = seeded()
    fno.insert(FNO, {"dataAreaId": "demf", "CustomerAccount": "X", "Name": "other company"})
    rules = 'create = ["fno"]\ncompanies = ["usmf"]\n'
    async with replicating(tmp_path, fno, crm, rules) as rep:
        crm.insert(CRM, {"company": "usmf", "accountnumber": "K", "name": "born on crm"})
        await idle(rep)
        assert len(await rep.ctx.store.errors()) == 1
        reports = await rep.reconcile()
        await idle(rep)
        assert len(await rep.ctx.store.errors()) == 1
    assert counts(reports) == {"fno": (4, 0, 0), "crm": (4, 0, 0)}


async def test_a_row_that_left_the_filter_is_not_taken_for_deleted(tmp_path: Path) -> None:
    """A linked row edited out of the map's filter (change lost) is not gone: its partner
    stays, as in the live sync."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    fno.insert(FNO, customer("A", Name="Alpha", Kind="org"))
    fno.insert(FNO, customer("B", Name="Beta", Kind="org"))
    rules = "filter = { fno = \"Kind = 'org'\" }\n"
    async with replicating(tmp_path, fno, crm, rules) as rep:
        fno.lose_changes(1.0)
        fno.update(FNO, native_id(fno, FNO, "CustomerAccount", "B"), {"Kind": "person"})
        fno.lose_changes(0)
        reports = await rep.reconcile()
        await idle(rep)
    assert counts(reports)["fno"] == (1, 0, 0)
    assert sorted(accounts(crm)) == ["A", "B"]


async def test_a_side_that_asks_for_passes_gets_one_once_live(tmp_path: Path) -> None:
    """A side declaring ``reconcile_minutes`` has its lost changes recovered by the engine
    itself: a pass once live (and again every interval)."""
    fno, crm = seeded()
    async with replicating(tmp_path, fno, crm):
        pass
    fno.lose_changes(1.0)  # while the daemon is down
    fno.update(FNO, native_id(fno, FNO, "CustomerAccount", "A"), {"Name": "Alpha 2"})
    fno.lose_changes(0)
    fno.reconcile_minutes = 60.0
    with structlog.testing.capture_logs() as logs:
        async with replicating(tmp_path, fno, crm) as rep:
            await until(lambda: any(e["event"] == "reconcile_finished" for e in logs))
            await idle(rep)
            assert accounts(crm)["A"]["name"] == "Alpha 2"
    passes = [(e["side"], e["replayed"]) for e in logs if e["event"] == "reconcile_finished"]
    assert passes == [("fno", 1)]  # crm asks for no pass


def test_the_memory_side_takes_reconcile_minutes_as_an_option(tmp_path: Path) -> None:
    """``reconcile_minutes`` sets the side's interval; a bad value is named."""
    side = create_side("fno", {"reconcile_minutes": 2}, tmp_path)
    assert side.reconcile_interval_s() == 120.0
    assert MemorySide("crm").reconcile_interval_s() is None
    assert check_options("fno", {"reconcile_minutes": "hourly"}) == [
        "reconcile_minutes: expected a number of minutes above 0, got 'hourly'"
    ]


def test_needs_replay_compares_link_version_and_shadow(tmp_path: Path) -> None:
    """No link, another version, or values other than the shadow: replay; else not."""
    m = load_config(write_config(tmp_path, CUSTOMERS)).maps[0]
    shadow = {
        "dataAreaId": "usmf",
        "CustomerAccount": "A",
        "Name": "Alpha",
        "AddressState": "Idaho",
        "Latitude": None,
        "LanguageId": "en-us",
    }
    link = stored_link(1, '["usmf","A"]', ["1", "9"], ["5", "7"], shadow=shadow)
    crm = {"company": "usmf", "accountnumber": "A", "name": "Alpha"}
    row = Row("9", "7", {**crm, "address1_stateorprovince": "ID"})
    assert not needs_replay(m, 1, row, link)
    assert needs_replay(m, 1, row, None)
    assert needs_replay(m, 1, Row("9", "8", row.values), link)
    assert needs_replay(m, 1, Row("9", "7", {**row.values, "name": "Alpha 2"}), link)
    assert needs_replay(m, 1, Row("9", "7", row.values, error="bad bytes"), link)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_pass_converges_a_random_workload_on_a_feed_losing_a_third(
    tmp_path: Path, seed: int
) -> None:
    """Creates, updates and deletes on fno, a third of their changes lost: after one pass
    crm holds exactly fno's customers with fno's names."""
    fno, crm = seeded()
    rng = random.Random(seed)
    async with replicating(tmp_path, fno, crm) as rep:
        fno.lose_changes(1 / 3, seed)
        for step in range(60):
            ids = sorted(fno.rows(FNO))
            choice = rng.random()
            if choice < 0.4 or not ids:
                fno.insert(FNO, customer(f"N{step}", Name=f"new {step}"))
            elif choice < 0.8:
                fno.update(FNO, rng.choice(ids), {"Name": f"renamed {step}"})
            else:
                fno.delete(FNO, rng.choice(ids))
            if step % 5 == 4:  # let the pipeline apply what the feed did deliver
                await idle(rep)
        fno.lose_changes(0)
        await idle(rep)
        assert fno.lost, "the feed lost nothing: the test would prove nothing"
        await rep.reconcile()
        await idle(rep)
    wanted = {v["CustomerAccount"]: v["Name"] for v in fno.rows(FNO).values()}
    assert {k: v["name"] for k, v in accounts(crm).items()} == wanted
