"""Initial sync rules on memory sides: what the sync does with rows that change under it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio
import msgspec
import pytest
from structlog.testing import capture_logs

from adapters.memory import MemorySide
from conftest import NAME_PHONE_MAP, SELF_REFERENCE_MAP, write_config
from replicator.adapter import WriteOp, WriteResult
from replicator.config import EngineConfig, load_config
from replicator.engine import Replicator
from replicator.errors import ReplicatorError


class EditsBeforeWrites(MemorySide):
    """A side where a user changes row C1 just before the N-th write call reaches it."""

    def __init__(self, name: str, entity: str, key_field: str) -> None:
        super().__init__(name)
        self.entity, self.key_field = entity, key_field
        self.edits: dict[int, dict[str, object]] = {}
        self.calls = 0

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self.calls += 1
        if edit := self.edits.pop(self.calls, None):
            nid = next(k for k, v in self.rows(self.entity).items() if v[self.key_field] == "C1")
            self.update(self.entity, nid, edit)
        return await super().write(ops)


def edited_sides() -> tuple[EditsBeforeWrites, EditsBeforeWrites]:
    fno = EditsBeforeWrites("fno", "CustomersV3", "CustomerAccount")
    crm = EditsBeforeWrites("crm", "accounts", "accountnumber")
    return fno, crm


async def run_until_idle(config: Path, fno: MemorySide, crm: MemorySide) -> None:
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()


def name_phone(fno: MemorySide, crm: MemorySide) -> list[list[tuple[object, object]]]:
    return [
        [(v["Name"], v["Phone"]) for v in fno.rows("CustomersV3").values()],
        [(v["name"], v["telephone1"]) for v in crm.rows("accounts").values()],
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("edit", "expected"),
    [({"telephone1": "6"}, ("a", "6")), ({"name": "edited"}, ("edited", "5"))],
)
async def test_an_edit_made_after_the_scan_is_kept_and_the_rest_synced(
    tmp_path: Path, edit: dict[str, object], expected: tuple[str, str]
) -> None:
    """fno (the master) lacks C1's phone; crm's name differs. A user edits crm's row after
    the scan: the sync's write meets it, merges it in (it is newer than the sync), and
    both sides end with the master's values plus the edit."""
    fno, crm = edited_sides()
    fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "a", "Phone": None})
    crm.insert("accounts", {"accountnumber": "C1", "name": "z", "telephone1": "5"})
    crm.edits[1] = edit
    await run_until_idle(write_config(tmp_path, NAME_PHONE_MAP), fno, crm)
    assert name_phone(fno, crm) == [[expected], [expected]]


@pytest.mark.anyio
async def test_edits_met_in_two_rounds_of_writes_are_both_kept(tmp_path: Path) -> None:
    """crm's phone changes before the sync's first write, fno's name before its second:
    the job is merged again each time, and both edits stand."""
    fno, crm = edited_sides()
    fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "a", "Phone": None})
    crm.insert("accounts", {"accountnumber": "C1", "name": "z", "telephone1": "5"})
    crm.edits[1] = {"telephone1": "6"}
    fno.edits[2] = {"Name": "b"}
    await run_until_idle(write_config(tmp_path, NAME_PHONE_MAP), fno, crm)
    assert name_phone(fno, crm) == [[("b", "6")], [("b", "6")]]


@pytest.mark.anyio
async def test_the_same_field_edited_on_both_sides_after_the_scan_follows_the_policy(
    tmp_path: Path,
) -> None:
    """Both users change C1's phone after the scan: the map's conflict policy (fno) wins."""
    fno, crm = edited_sides()
    fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": None, "Phone": "4"})
    crm.insert("accounts", {"accountnumber": "C1", "name": "z", "telephone1": "5"})
    fno.edits[1] = {"Phone": "7"}
    crm.edits[1] = {"telephone1": "6"}
    await run_until_idle(write_config(tmp_path, NAME_PHONE_MAP), fno, crm)
    assert name_phone(fno, crm) == [[("z", "7")], [("z", "7")]]


@pytest.mark.anyio
async def test_a_row_created_after_the_scan_meets_the_sync_insert_and_both_converge(
    tmp_path: Path,
) -> None:
    """crm's user creates C1 just before the sync inserts it: the pair is linked with only
    what both hold, and the live sync merges the rest (the conflict policy: fno)."""

    class CreatesC1(MemorySide):
        async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
            if not self.rows("accounts"):
                self.insert("accounts", {"accountnumber": "C1", "name": "z", "telephone1": None})
            return await super().write(ops)

    fno, crm = MemorySide("fno"), CreatesC1("crm")
    fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "a", "Phone": "5"})
    await run_until_idle(write_config(tmp_path, NAME_PHONE_MAP), fno, crm)
    assert name_phone(fno, crm) == [[("a", "5")], [("a", "5")]]


@pytest.mark.anyio
async def test_a_deferred_self_reference_changed_after_the_scan_reaches_both_sides(
    tmp_path: Path,
) -> None:
    """C1's invoice account is deferred (C2 is created in the same batch); fno's user points
    it to C3 after the scan: once the patch runs, both sides hold C3."""
    fno, crm = edited_sides()
    fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": None, "InvoiceAccount": "C2"})
    for account in ("C2", "C3"):
        fno.insert(
            "CustomersV3", {"CustomerAccount": account, "Name": account, "InvoiceAccount": None}
        )
    crm.insert("accounts", {"accountnumber": "C1", "name": "z", "billingaccount": None})
    fno.edits[1] = {"InvoiceAccount": "C3"}
    await run_until_idle(write_config(tmp_path, SELF_REFERENCE_MAP), fno, crm)
    refs = [
        {v["CustomerAccount"]: v["InvoiceAccount"] for v in fno.rows("CustomersV3").values()},
        {v["accountnumber"]: v["billingaccount"] for v in crm.rows("accounts").values()},
    ]
    assert refs == [{"C1": "C3", "C2": None, "C3": None}] * 2


STRICT_STATES = """
[value_maps.state]
strict = true
"Idaho" = "ID"

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "State", crm = "stateorprovince", value_map = "state" } ]
"""


@pytest.mark.anyio
async def test_a_value_a_strict_value_map_lacks_queues_the_record_not_the_sync(
    tmp_path: Path,
) -> None:
    """fno's C1 lies in a state the strict map does not name: C1 goes to the error queue
    (it cannot be written to crm), C2 is synced."""
    config = write_config(tmp_path, STRICT_STATES)
    fno, crm = MemorySide("fno"), MemorySide("crm")
    fno.insert("CustomersV3", {"CustomerAccount": "C1", "State": "Oregon"})
    fno.insert("CustomersV3", {"CustomerAccount": "C2", "State": "Idaho"})
    crm.insert("accounts", {"accountnumber": "C3", "stateorprovince": "ID"})
    crm.insert("accounts", {"accountnumber": "C1", "stateorprovince": "ID"})
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
        errors = await rep.ctx.store.errors()
    assert [(e.map, e.key, e.kind) for e in errors] == [("customers", '["C1"]', "rule")]
    assert "'Oregon'" in errors[0].reason and "strict" in errors[0].reason
    states = {v["accountnumber"]: v["stateorprovince"] for v in crm.rows("accounts").values()}
    assert states == {"C1": "ID", "C2": "ID", "C3": "ID"}


@pytest.mark.anyio
async def test_a_value_a_strict_map_lacks_met_while_merging_again_queues_the_record(
    tmp_path: Path,
) -> None:
    """fno's user sets a state the strict map does not name after the scan: the sync
    cannot carry it over, so the record goes to the error queue and the value stays."""
    body = STRICT_STATES.replace(
        '{ fno = "State", crm = "stateorprovince", value_map = "state" } ]',
        '{ fno = "State", crm = "stateorprovince", value_map = "state" },\n'
        '           { fno = "Name", crm = "name" } ]',
    )
    fno, crm = edited_sides()
    fno.insert("CustomersV3", {"CustomerAccount": "C1", "State": "Idaho", "Name": None})
    crm.insert("accounts", {"accountnumber": "C1", "stateorprovince": "ID", "name": "z"})
    fno.edits[1] = {"State": "Oregon"}
    async with Replicator(write_config(tmp_path, body), sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
        errors = await rep.ctx.store.errors()
    assert [e.key for e in errors] == ['["C1"]']
    assert "'Oregon'" in errors[0].reason
    assert [v["State"] for v in fno.rows("CustomersV3").values()] == ["Oregon"]


@pytest.mark.anyio
async def test_a_side_away_during_the_initial_sync_delays_it_and_the_daemon_goes_on(
    tmp_path: Path,
) -> None:
    """crm refuses writes for a while in the middle of the initial sync: the engine logs
    the interruption, waits, syncs again and goes live; nothing is lost or duplicated."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "C1", "Phone": "1"})
    crm.fail_writes(8)  # more than the sync's own six attempts at a batch
    with capture_logs() as logs:
        async with Replicator(
            write_config(tmp_path, NAME_PHONE_MAP), sides={"fno": fno, "crm": crm}
        ) as rep:
            with anyio.fail_after(20):
                await rep.wait_idle()
    assert any(e["event"] == "initial_sync_interrupted" for e in logs)
    assert [v["name"] for v in crm.rows("accounts").values()] == ["C1"]


@pytest.mark.anyio
async def test_a_sync_that_skips_its_rows_does_not_mark_the_map_synced(tmp_path: Path) -> None:
    """With a batch size that plans no row (only a config built by hand can hold one), the
    initial sync fails naming the map, and the map is not recorded as synced."""
    config = load_config(write_config(tmp_path, NAME_PHONE_MAP))
    config = msgspec.structs.replace(config, engine=EngineConfig(batch_size=-5))
    fno, crm = MemorySide("fno"), MemorySide("crm")
    fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "a", "Phone": None})
    sides = {"fno": fno, "crm": crm}
    async with Replicator(config, sides=sides, initial_sync=False, live=False) as rep:
        with pytest.raises(ReplicatorError, match="map 'customers': the initial sync went"):
            await rep.sync()
        assert (await rep.ctx.store.map_states()).get("customers", (None,))[0] is None
    assert crm.rows("accounts") == {}
