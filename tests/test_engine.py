"""The engine end to end on memory sides: the guarantees of DESIGN §3 and the rules of §4."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog.testing

from adapters.memory import MemorySide
from conftest import routed, until, write_config
from replicator.adapter import Values, WriteOp, WriteResult
from replicator.engine import Replicator
from replicator.model import ErrorEntry

pytestmark = pytest.mark.anyio

IDLE_TIMEOUT_S = 10.0
FNO, CRM = "CustomersV3", "accounts"

VALUE_MAPS = """
[value_maps.state]
"Idaho" = "ID"
"Washington" = "WA"
"""

CUSTOMERS = """
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [
  { fno = "Name", crm = "name" },
  { fno = "CreditLimit", crm = "creditlimit" },
  { fno = "AddressState", crm = "address1_stateorprovince", value_map = "state" },
  { fno = "Latitude", crm = "address1_latitude", direction = "fno->crm" },
  { fno = "LanguageId", crm = "msdyn_language", default = "en-us" },
]
"""


def customers_config(tmp_path: Path, rules: str = "") -> Path:
    """A config with the customers map; ``rules`` are extra lines of the map's table."""
    return write_config(tmp_path, VALUE_MAPS + CUSTOMERS + rules)


def fno_customer(account: str, **values: Any) -> Values:
    """A CustomersV3 row of company usmf."""
    return {"dataAreaId": "usmf", "CustomerAccount": account, **values}


def crm_account(account: str, **values: Any) -> Values:
    """An accounts row of company usmf."""
    return {"company": "usmf", "accountnumber": account, **values}


def by_key(side: MemorySide, entity: str, key_field: str, key: str) -> list[tuple[str, Values]]:
    """The rows of ``entity`` whose ``key_field`` is ``key``, with their native ids."""
    return [(nid, v) for nid, v in side.rows(entity).items() if v.get(key_field) == key]


def one_row(side: MemorySide, entity: str, key_field: str, key: str) -> tuple[str, Values]:
    """The single row of ``entity`` with that key (fails if none or several)."""
    rows = by_key(side, entity, key_field, key)
    assert len(rows) == 1, f"{side.name}.{entity}: {len(rows)} rows with {key_field}={key}"
    return rows[0]


def fno_row(fno: MemorySide, account: str) -> Values:
    return one_row(fno, FNO, "CustomerAccount", account)[1]


def crm_row(crm: MemorySide, account: str) -> Values:
    return one_row(crm, CRM, "accountnumber", account)[1]


async def idle(rep: Replicator) -> None:
    """Wait until everything the sides did so far is replicated and quiet."""
    with anyio.fail_after(IDLE_TIMEOUT_S):
        await rep.wait_idle()


async def links(rep: Replicator, map_name: str = "customers") -> int:
    """The number of links of a map, as ``status`` reports it."""
    status = await rep.status()
    return int(next(m["links"] for m in status["maps"] if m["map"] == map_name))


async def errors(rep: Replicator) -> list[ErrorEntry]:
    return await rep.ctx.store.errors()


@pytest.fixture
def fno() -> MemorySide:
    return MemorySide("fno")


@pytest.fixture
def crm() -> MemorySide:
    return MemorySide("crm")


@asynccontextmanager
async def running(cfg: Path, fno: MemorySide, crm: MemorySide) -> AsyncIterator[Replicator]:
    """A replicator over the two memory sides, idle once started."""
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        await idle(rep)
        yield rep


# -- no loops, no duplicates ---------------------------------------------------------------


@pytest.mark.parametrize("born_on", ["fno", "crm"])
async def test_create_makes_one_write_on_the_other_side_then_silence(
    tmp_path: Path, fno: MemorySide, crm: MemorySide, born_on: str
) -> None:
    """A record born on one side costs exactly one write on the other, and then nothing."""
    async with running(customers_config(tmp_path), fno, crm) as rep:
        if born_on == "fno":
            fno.insert(FNO, fno_customer("C1", Name="Contoso"))
        else:
            crm.insert(CRM, crm_account("C1", name="Contoso"))
        await idle(rep)
        assert fno_row(fno, "C1")["Name"] == crm_row(crm, "C1")["name"] == "Contoso"
        expected = (0, 1) if born_on == "fno" else (1, 0)
        assert (fno.writes, crm.writes) == expected
        await idle(rep)
        assert (fno.writes, crm.writes) == expected


async def test_an_update_makes_one_write_then_silence(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """An edit of a linked record is written once to the other side; its echo is dropped."""
    async with running(customers_config(tmp_path), fno, crm) as rep:
        nid = fno.insert(FNO, fno_customer("C1", Name="Contoso"))
        await idle(rep)
        fno.update(FNO, nid, {"CreditLimit": 500})
        await idle(rep)
        assert crm_row(crm, "C1")["creditlimit"] == 500
        assert (fno.writes, crm.writes) == (0, 2)
        await idle(rep)
        assert (fno.writes, crm.writes) == (0, 2)


async def test_same_key_created_on_both_sides_at_once_is_linked_not_duplicated(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """Both sides creating the same key while live end in one link and one row per side."""
    async with running(customers_config(tmp_path), fno, crm) as rep:
        fno.insert(FNO, fno_customer("C1", Name="Contoso", CreditLimit=100))
        crm.insert(CRM, crm_account("C1", name="Contoso", creditlimit=100))
        await idle(rep)
        assert fno_row(fno, "C1")["Name"] == crm_row(crm, "C1")["name"]
        assert await links(rep) == 1
        assert await errors(rep) == []


async def test_same_key_created_on_both_sides_before_start_is_linked_not_duplicated(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """Rows with one key on both sides before the first run are linked by the initial sync."""
    fno.insert(FNO, fno_customer("C1", Name="Contoso", CreditLimit=100))
    crm.insert(CRM, crm_account("C1", name="Contoso Ltd", creditlimit=100))
    async with running(customers_config(tmp_path), fno, crm) as rep:
        # initial_master defaults to fno: its values win.
        assert crm_row(crm, "C1")["name"] == fno_row(fno, "C1")["Name"] == "Contoso"
        assert await links(rep) == 1
        assert await errors(rep) == []


async def test_same_key_created_on_both_sides_while_stopped_is_linked_not_duplicated(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """Both sides creating one key between two runs: the feeds meet in one link on restart."""
    cfg = customers_config(tmp_path)
    async with running(cfg, fno, crm):
        pass
    fno.insert(FNO, fno_customer("C1", Name="Contoso"))
    crm.insert(CRM, crm_account("C1", name="Contoso"))
    async with running(cfg, fno, crm) as rep:
        fno_row(fno, "C1")
        crm_row(crm, "C1")
        assert await links(rep) == 1
        assert await errors(rep) == []


# -- create, delete and key rules ------------------------------------------------------------


async def test_create_from_a_side_the_create_rule_forbids_goes_to_the_error_queue(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """With ``create = ["fno"]`` a crm-born record is not written; it is queued with a reason."""
    async with running(customers_config(tmp_path, 'create = ["fno"]\n'), fno, crm) as rep:
        nid = crm.insert(CRM, crm_account("C1", name="Contoso"))
        fno.insert(FNO, fno_customer("C2", Name="Fabrikam"))
        await idle(rep)
        assert by_key(fno, FNO, "CustomerAccount", "C1") == []
        assert crm_row(crm, "C2")["name"] == "Fabrikam"  # the rest keeps flowing
        (error,) = await errors(rep)
        assert (error.map, error.side, error.native_id, error.kind) == ("customers", 1, nid, "rule")
        assert "created on 'crm'" in error.reason and "'fno'" in error.reason
        assert fno.writes == 0


async def test_updates_from_a_side_that_may_not_create_still_flow(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """``create = ["fno"]`` forbids births on crm, not edits of linked records made there."""
    async with running(customers_config(tmp_path, 'create = ["fno"]\n'), fno, crm) as rep:
        fno.insert(FNO, fno_customer("C1", Name="Contoso"))
        await idle(rep)
        nid, _ = one_row(crm, CRM, "accountnumber", "C1")
        crm.update(CRM, nid, {"name": "Contoso Ltd"})
        await idle(rep)
        assert fno_row(fno, "C1")["Name"] == "Contoso Ltd"
        assert await errors(rep) == []


async def test_key_rename_renames_the_linked_row(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """Changing a key field on one side changes it on the same row of the other side."""
    async with running(customers_config(tmp_path), fno, crm) as rep:
        fno_id = fno.insert(FNO, fno_customer("C1", Name="Contoso"))
        await idle(rep)
        crm_id, _ = one_row(crm, CRM, "accountnumber", "C1")
        fno.update(FNO, fno_id, {"CustomerAccount": "C9"})
        await idle(rep)
        assert list(crm.rows(CRM)) == [crm_id]
        assert crm.rows(CRM)[crm_id]["accountnumber"] == "C9"
        assert list(fno.rows(FNO)) == [fno_id]
        assert await links(rep) == 1
        # the renamed record is still linked: a later edit follows it
        crm.update(CRM, crm_id, {"name": "Renamed"})
        await idle(rep)
        assert fno.rows(FNO)[fno_id]["Name"] == "Renamed"


@pytest.mark.parametrize("deleted_on", ["fno", "crm"])
async def test_deletes_propagate(
    tmp_path: Path, fno: MemorySide, crm: MemorySide, deleted_on: str
) -> None:
    """Deleting a linked row on either side deletes its partner and the link."""
    async with running(customers_config(tmp_path), fno, crm) as rep:
        fno_id = fno.insert(FNO, fno_customer("C1", Name="Contoso"))
        fno.insert(FNO, fno_customer("C2", Name="Kept"))
        await idle(rep)
        crm_id, _ = one_row(crm, CRM, "accountnumber", "C1")
        if deleted_on == "fno":
            fno.delete(FNO, fno_id)
        else:
            crm.delete(CRM, crm_id)
        await idle(rep)
        assert by_key(fno, FNO, "CustomerAccount", "C1") == []
        assert by_key(crm, CRM, "accountnumber", "C1") == []
        assert crm_row(crm, "C2")["name"] == "Kept"
        assert await links(rep) == 1
        assert await errors(rep) == []


async def test_an_edit_racing_a_delete_does_not_cling_to_a_recreated_record(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """An edit of a row the replicator deletes meanwhile is dropped, not linked to a new row."""
    async with running(customers_config(tmp_path), fno, crm) as rep:
        old = fno.insert(FNO, fno_customer("C1", Name="Old"))
        await idle(rep)
        crm_id, _ = one_row(crm, CRM, "accountnumber", "C1")
        crm.fail_writes(3, "transient")  # the delete below retries on crm for a while
        fno.delete(FNO, old)
        crm.update(CRM, crm_id, {"name": "Edited"})  # read with its values, queued behind
        await until(lambda: rep.ctx.activity.inflight == 2)
        new = fno.insert(FNO, fno_customer("C1", Name="New"))  # queued behind the edit
        await idle(rep)
        assert list(fno.rows(FNO)) == [new]
        assert fno.rows(FNO)[new]["Name"] == "New"
        assert crm_row(crm, "C1")["name"] == "New"
        assert crm_id not in crm.rows(CRM)
        assert await links(rep) == 1


class DeletedAtOnce(MemorySide):
    """A side where a user deletes each row the replicator inserts before it answers, and
    the replicator reads both changes before the insert's outcome is committed."""

    rep: Replicator

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results = await super().write(ops)
        for op, result in zip(ops, results, strict=True):
            if op.op == "insert" and result.native_id is not None:
                self.delete(op.entity, result.native_id)
                await until(lambda: routed(self.rep, self.feed, "customers", 1))
        return results


async def test_a_row_deleted_before_its_insert_is_committed_is_deleted_on_both_sides(
    tmp_path: Path, fno: MemorySide
) -> None:
    """A user deletes the row we just created before the link is committed: the delete wins."""
    crm = DeletedAtOnce("crm")
    async with running(customers_config(tmp_path), fno, crm) as rep:
        crm.rep = rep
        fno.insert(FNO, fno_customer("C1", Name="New"))
        await idle(rep)
        assert fno.rows(FNO) == {} and crm.rows(CRM) == {}
        assert await links(rep) == 0


async def test_delete_from_a_side_the_delete_rule_forbids_goes_to_the_error_queue(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """With ``delete = ["fno"]`` a crm delete is not replicated: queued, the fno row kept."""
    async with running(customers_config(tmp_path, 'delete = ["fno"]\n'), fno, crm) as rep:
        fno.insert(FNO, fno_customer("C1", Name="Contoso"))
        await idle(rep)
        crm_id, _ = one_row(crm, CRM, "accountnumber", "C1")
        crm.delete(CRM, crm_id)
        await idle(rep)
        assert fno_row(fno, "C1")["Name"] == "Contoso"
        (error,) = await errors(rep)
        assert (error.side, error.native_id, error.kind) == (1, crm_id, "rule")
        assert "deleted on 'crm'" in error.reason and "kept" in error.reason


# -- field rules ------------------------------------------------------------------------------


async def test_value_maps_translate_both_ways(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """``"Idaho" = "ID"``: fno's Idaho is crm's ID, and crm's WA comes back as Washington."""
    async with running(customers_config(tmp_path), fno, crm) as rep:
        fno_id = fno.insert(FNO, fno_customer("C1", AddressState="Idaho"))
        crm.insert(CRM, crm_account("C2", address1_stateorprovince="WA"))
        await idle(rep)
        assert crm_row(crm, "C1")["address1_stateorprovince"] == "ID"
        assert fno_row(fno, "C2")["AddressState"] == "Washington"
        crm_id, _ = one_row(crm, CRM, "accountnumber", "C1")
        crm.update(CRM, crm_id, {"address1_stateorprovince": "WA"})
        await idle(rep)
        assert fno.rows(FNO)[fno_id]["AddressState"] == "Washington"
        fno.update(FNO, fno_id, {"AddressState": "Oregon"})  # not in the map: passes through
        await idle(rep)
        assert crm.rows(CRM)[crm_id]["address1_stateorprovince"] == "Oregon"


async def test_strict_value_map_sends_unknown_values_to_the_error_queue(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """A value a strict map does not name sends the record to the error queue, unwritten."""
    body = VALUE_MAPS + "strict = true\n" + CUSTOMERS
    async with running(write_config(tmp_path, body), fno, crm) as rep:
        nid = fno.insert(FNO, fno_customer("C1", AddressState="Oregon"))
        fno.insert(FNO, fno_customer("C2", AddressState="Idaho"))
        await idle(rep)
        assert by_key(crm, CRM, "accountnumber", "C1") == []
        assert crm_row(crm, "C2")["address1_stateorprovince"] == "ID"
        (error,) = await errors(rep)
        assert (error.side, error.native_id, error.kind) == (0, nid, "rule")
        assert "'Oregon'" in error.reason and "strict" in error.reason


async def test_one_way_field_edited_on_the_other_side_is_reverted(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """An edit of a ``fno->crm`` field on crm is reverted to fno's value; fno is untouched."""
    async with running(customers_config(tmp_path), fno, crm) as rep:
        fno.insert(FNO, fno_customer("C1", Latitude=47.6))
        await idle(rep)
        crm_id, _ = one_row(crm, CRM, "accountnumber", "C1")
        crm.update(CRM, crm_id, {"address1_latitude": 0.0, "name": "Edited on crm"})
        await idle(rep)
        assert crm.rows(CRM)[crm_id]["address1_latitude"] == 47.6
        assert fno_row(fno, "C1")["Latitude"] == 47.6
        assert fno_row(fno, "C1")["Name"] == "Edited on crm"  # both-ways fields still flow


async def test_one_way_field_flows_from_its_owner(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """An edit of a ``fno->crm`` field on fno reaches crm."""
    async with running(customers_config(tmp_path), fno, crm) as rep:
        fno_id = fno.insert(FNO, fno_customer("C1", Latitude=47.6))
        await idle(rep)
        fno.update(FNO, fno_id, {"Latitude": 40.1})
        await idle(rep)
        assert crm_row(crm, "C1")["address1_latitude"] == 40.1


async def test_default_fills_an_empty_target_field(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """A source row without a value for a field with a default writes the default."""
    async with running(customers_config(tmp_path), fno, crm) as rep:
        fno.insert(FNO, fno_customer("C1"))
        fno.insert(FNO, fno_customer("C2", LanguageId="da"))
        await idle(rep)
        assert crm_row(crm, "C1")["msdyn_language"] == "en-us"
        assert crm_row(crm, "C2")["msdyn_language"] == "da"


async def test_filter_keeps_rows_out(tmp_path: Path, fno: MemorySide, crm: MemorySide) -> None:
    """Rows the side's filter rejects are not replicated; a row that starts to pass is."""
    rules = "filter = { fno = \"PartyType = 'Organization'\" }\n"
    async with running(customers_config(tmp_path, rules), fno, crm) as rep:
        fno.insert(FNO, fno_customer("C1", PartyType="Organization"))
        person = fno.insert(FNO, fno_customer("C2", PartyType="Person"))
        await idle(rep)
        crm_row(crm, "C1")
        assert by_key(crm, CRM, "accountnumber", "C2") == []
        assert await links(rep) == 1
        fno.update(FNO, person, {"PartyType": "Organization"})
        await idle(rep)
        crm_row(crm, "C2")


async def test_filter_applies_to_the_initial_sync(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """Rows present before the first run that fail the filter are not created."""
    fno.insert(FNO, fno_customer("C1", PartyType="Organization"))
    fno.insert(FNO, fno_customer("C2", PartyType="Person"))
    rules = "filter = { fno = \"PartyType = 'Organization'\" }\n"
    async with running(customers_config(tmp_path, rules), fno, crm):
        assert [v["accountnumber"] for v in crm.rows(CRM).values()] == ["C1"]


# -- conflicts ---------------------------------------------------------------------------------


async def edit_both_while_stopped(
    tmp_path: Path, fno: MemorySide, crm: MemorySide, rules: str, last: str
) -> Replicator:
    """Link C1, stop, change its Name on both sides (``last`` edits last), restart and settle.

    Returns the (closed) second replicator, whose store is still readable by tests.
    """
    cfg = customers_config(tmp_path, rules)
    async with running(cfg, fno, crm) as first:
        fno_id = fno.insert(FNO, fno_customer("C1", Name="Base"))
        await idle(first)
    crm_id, _ = one_row(crm, CRM, "accountnumber", "C1")
    edits = [
        lambda: fno.update(FNO, fno_id, {"Name": "from fno"}),
        lambda: crm.update(CRM, crm_id, {"name": "from crm"}),
    ]
    if last == "fno":
        edits.reverse()
    edits[0]()
    await until(lambda: _clock_moved(fno, crm))
    edits[1]()
    async with running(cfg, fno, crm) as rep:
        await idle(rep)
    return rep


def _clock_moved(fno: MemorySide, crm: MemorySide) -> bool:
    """Whether the wall clock moved past every change either side recorded so far."""
    stamps = [r.changed_at for side in (fno, crm) for t in side.tables.values() for r in t.values()]
    return time.time() > max(stamps)


@pytest.mark.parametrize("last", ["fno", "crm"])
async def test_conflict_policy_side_wins(
    tmp_path: Path, fno: MemorySide, crm: MemorySide, last: str
) -> None:
    """With ``conflict = "fno"`` fno's value wins a conflict, whichever edit came last."""
    await edit_both_while_stopped(tmp_path, fno, crm, 'conflict = "fno"\n', last)
    assert fno_row(fno, "C1")["Name"] == crm_row(crm, "C1")["name"] == "from fno"


@pytest.mark.parametrize("last", ["fno", "crm"])
async def test_conflict_policy_newest_wins(
    tmp_path: Path, fno: MemorySide, crm: MemorySide, last: str
) -> None:
    """With ``conflict = "newest"`` the side that changed the field last wins."""
    await edit_both_while_stopped(tmp_path, fno, crm, 'conflict = "newest"\n', last)
    assert fno_row(fno, "C1")["Name"] == crm_row(crm, "C1")["name"] == f"from {last}"


async def test_a_conflict_is_logged_with_both_values_and_the_winner(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """A conflict is never silent: one ``conflict`` event names the base, both values, winner."""
    with structlog.testing.capture_logs() as logs:
        await edit_both_while_stopped(tmp_path, fno, crm, 'conflict = "crm"\n', "fno")
    (event,) = [e for e in logs if e["event"] == "conflict"]
    assert event["map"] == "customers" and event["field"] == "Name"
    assert (event["base"], event["fno"], event["crm"]) == ("Base", "from fno", "from crm")
    assert event["winner"] == "crm"
    assert fno_row(fno, "C1")["Name"] == "from crm"


async def test_edits_of_different_fields_on_both_sides_are_merged(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """Both sides changing different fields while stopped keep both changes (no conflict)."""
    cfg = customers_config(tmp_path)
    async with running(cfg, fno, crm) as first:
        fno_id = fno.insert(FNO, fno_customer("C1", Name="Base", CreditLimit=1))
        await idle(first)
    crm_id, _ = one_row(crm, CRM, "accountnumber", "C1")
    fno.update(FNO, fno_id, {"CreditLimit": 2})
    crm.update(CRM, crm_id, {"name": "from crm"})
    async with running(cfg, fno, crm):
        pass
    assert fno_row(fno, "C1")["Name"] == crm_row(crm, "C1")["name"] == "from crm"
    assert fno_row(fno, "C1")["CreditLimit"] == crm_row(crm, "C1")["creditlimit"] == 2


# -- faults ----------------------------------------------------------------------------------


async def test_transient_write_faults_are_retried(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """Three transient write failures are retried and the change arrives, once."""
    async with running(customers_config(tmp_path), fno, crm) as rep:
        crm.fail_writes(3, "transient")
        fno.insert(FNO, fno_customer("C1", Name="Contoso"))
        await idle(rep)
        assert crm_row(crm, "C1")["name"] == "Contoso"
        assert crm.writes == 1
        assert await errors(rep) == []


async def test_permanent_write_fault_goes_to_the_error_queue_and_others_flow(
    tmp_path: Path, fno: MemorySide, crm: MemorySide
) -> None:
    """A permanently refused write queues its record with the reason; other records arrive."""
    async with running(customers_config(tmp_path), fno, crm) as rep:
        crm.fail_writes(1, "permanent", reason="refused value")
        ids = [fno.insert(FNO, fno_customer(f"C{i}", Name=f"N{i}")) for i in range(3)]
        await idle(rep)
        (error,) = await errors(rep)
        assert (error.side, error.kind) == (0, "permanent")
        assert "refused value" in error.reason
        failed = ids.index(error.native_id)
        arrived = sorted(v["accountnumber"] for v in crm.rows(CRM).values())
        assert arrived == sorted(f"C{i}" for i in range(3) if i != failed)


class OutageSide(MemorySide):
    """A memory side that counts the calls it refused while down."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.refused = 0

    def _check_up(self) -> None:
        self.refused += self.down
        super()._check_up()


async def test_an_outage_loses_nothing(tmp_path: Path, fno: MemorySide) -> None:
    """Changes on both sides while crm is unreachable all arrive once crm is back."""
    crm = OutageSide("crm")
    async with running(customers_config(tmp_path), fno, crm) as rep:
        crm.down = True
        fno.insert(FNO, fno_customer("C1", Name="from fno"))
        crm.insert(CRM, crm_account("C2", name="from crm"))  # crm's own apps keep working
        # fno's change is stuck on crm, and both it and crm's intake met the outage again
        await until(lambda: rep.ctx.activity.inflight > 0 and crm.refused >= 4)
        crm.down = False
        await idle(rep)
        assert crm_row(crm, "C1")["name"] == "from fno"
        assert fno_row(fno, "C2")["Name"] == "from crm"
        assert await links(rep) == 2
        assert await errors(rep) == []


class GatedWrites(MemorySide):
    """A side whose writes wait, while ``gate`` is set, until it opens."""

    gate: anyio.Event | None = None
    waiting = False

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        if self.gate is not None:
            self.waiting = True
            await self.gate.wait()
        return await super().write(ops)


async def test_a_duplicate_queued_behind_its_key_and_renamed_meanwhile_settles(
    tmp_path: Path, crm: MemorySide
) -> None:
    """A second crm row with C1's key waits behind C1's busy actor; its key is then
    cleared. The queued change is refused as a duplicate once, not handed around."""
    fno = GatedWrites("fno")
    async with running(customers_config(tmp_path), fno, crm) as rep:
        fno.insert(FNO, fno_customer("C1", Name="a"))
        await idle(rep)
        c1, _ = one_row(crm, CRM, "accountnumber", "C1")
        fno.gate = anyio.Event()
        crm.update(CRM, c1, {"name": "b"})
        await until(lambda: fno.waiting)  # C1's actor is in its write to fno
        twin = crm.insert(CRM, crm_account("C1", name="dup"))
        await until(lambda: rep.ctx.activity.inflight >= 2)  # queued behind it
        crm.update(CRM, twin, {"accountnumber": None})
        fno.gate.set()
        fno.gate = None
        await idle(rep)
        assert one_row(fno, FNO, "CustomerAccount", "C1")[1]["Name"] == "b"
