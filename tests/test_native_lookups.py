"""Lookups on a side whose lookup columns hold native ids (like Dataverse GUIDs), and a
side whose feed carries no tokens: translated through the links, parked, no echo loops."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from adapters.memory import MemorySide
from conftest import GROUPS_MAP, write_config
from replicator.engine import Replicator
from replicator.lookups import Reference
from replicator.model import Commit
from replicator.parking import Parking

pytestmark = pytest.mark.anyio

CUSTOMERS = """
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "Name", crm = "name" },
           { fno = "CustomerGroupId", crm = "msdyn_customergroupid", lookup = "customer_groups" } ]
prerequisites = ["customer_groups"]
"""


def sides() -> tuple[MemorySide, MemorySide]:
    fno = MemorySide("fno")
    crm = MemorySide("crm", tokens=False, native_lookups=True)
    return fno, crm


def crm_id(crm: MemorySide, entity: str, field: str, value: str) -> str:
    return next(n for n, v in crm.rows(entity).items() if v.get(field) == value)


async def run_until_idle(config: Path, fno: MemorySide, crm: MemorySide) -> None:
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()


def group(fno: MemorySide, gid: str) -> str:
    values = {"dataAreaId": "usmf", "CustomerGroupId": gid, "Description": f"group {gid}"}
    return fno.insert("CustCustomerGroup", values)


async def test_a_lookup_reaches_the_native_side_as_the_referenced_rows_id(tmp_path: Path) -> None:
    """A customer of group 10 created in fno holds, on crm, the native id of crm's group 10
    row; the core's values and shadows keep the key "10"."""
    config = write_config(tmp_path, GROUPS_MAP + CUSTOMERS)
    fno, crm = sides()
    group(fno, "10")
    fno.insert("CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "C1", "Name": "a",
                               "CustomerGroupId": "10"})  # fmt: skip
    await run_until_idle(config, fno, crm)
    group_id = crm_id(crm, "msdyn_customergroups", "msdyn_groupid", "10")
    (account,) = crm.rows("accounts").values()
    assert account["msdyn_customergroupid"] == group_id


async def test_a_native_id_from_the_native_side_reaches_the_other_side_as_a_key(
    tmp_path: Path,
) -> None:
    """An account created on crm pointing at crm's group row (by native id) arrives in fno
    with that group's id, live."""
    config = write_config(tmp_path, GROUPS_MAP + CUSTOMERS)
    fno, crm = sides()
    group(fno, "20")
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
        group_id = crm_id(crm, "msdyn_customergroups", "msdyn_groupid", "20")
        crm.insert("accounts", {"company": "usmf", "accountnumber": "C2", "name": "b",
                                "msdyn_customergroupid": group_id})  # fmt: skip
        with anyio.fail_after(10):
            await rep.wait_idle()
    (customer,) = fno.rows("CustomersV3").values()
    assert customer["CustomerGroupId"] == "20"


async def test_a_reference_to_a_row_not_linked_yet_parks_until_it_is(tmp_path: Path) -> None:
    """An account pointing at a crm group that is not linked yet waits (parked by native id)
    and is released, with the group's key, once the group is linked."""
    config = write_config(tmp_path, GROUPS_MAP + CUSTOMERS)
    fno, crm = sides()
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
        group_id = "g-1"  # the id the group row will have: it is created after the account
        crm.insert("accounts", {"company": "usmf", "accountnumber": "C3", "name": "c",
                                "msdyn_customergroupid": group_id})  # fmt: skip
        with anyio.fail_after(10):
            await rep.wait_idle()
        assert fno.rows("CustomersV3") == {}
        status = await rep.status()
        (customers,) = [m for m in status["maps"] if m["map"] == "customers"]
        assert customers["parked"] == 1
        values = {"company": "usmf", "msdyn_groupid": "30", "msdyn_description": "x"}
        crm.insert("msdyn_customergroups", values, native_id=group_id)
        with anyio.fail_after(10):
            await rep.wait_idle()
    (customer,) = fno.rows("CustomersV3").values()
    assert customer["CustomerGroupId"] == "30"


async def test_without_tokens_no_write_is_echoed_back(tmp_path: Path) -> None:
    """On a side whose feed carries no tokens, a create, an update and a delete from fno
    each cost one write on crm and none back on fno: echoes are known by version."""
    config = write_config(tmp_path, GROUPS_MAP + CUSTOMERS)
    fno, crm = sides()
    group(fno, "10")
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
        fno_writes, crm_writes = fno.writes, crm.writes
        nid = fno.insert("CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "C4",
                                         "Name": "d", "CustomerGroupId": "10"})  # fmt: skip
        with anyio.fail_after(10):
            await rep.wait_idle()
        fno.update("CustomersV3", nid, {"Name": "e"})
        with anyio.fail_after(10):
            await rep.wait_idle()
        fno.delete("CustomersV3", nid)
        with anyio.fail_after(10):
            await rep.wait_idle()
    assert (fno.writes - fno_writes, crm.writes - crm_writes) == (0, 3)


async def test_a_target_linked_between_the_read_and_the_check_is_written_as_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race of a lookup by native id: the account's row is read while its group is not
    linked (the lookup arrives as ``Unresolved``), and the group is linked before the
    record checks it. The check finds it linked, so the record is not parked: fno gets the
    group's key, not the stand-in of the read."""
    config = write_config(tmp_path, GROUPS_MAP + CUSTOMERS)
    fno, crm = sides()
    linked = anyio.Event()
    committed, missing = Parking.committed, Parking.missing

    def on_commit(self: Parking, commits: Sequence[Commit]) -> None:
        committed(self, commits)
        if any(c.link and c.link.map == "customer_groups" and all(c.link.ids) for c in commits):
            linked.set()

    async def link_first(self: Parking, ref: Reference) -> bool:
        if ref.native is not None and not linked.is_set():  # the row was read unlinked
            values = {"company": "usmf", "msdyn_groupid": "30", "msdyn_description": "x"}
            crm.insert("msdyn_customergroups", values, native_id=ref.native[1])
            await linked.wait()
        return await missing(self, ref)

    monkeypatch.setattr(Parking, "committed", on_commit)
    monkeypatch.setattr(Parking, "missing", link_first)
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
        crm.insert("accounts", {"company": "usmf", "accountnumber": "C5", "name": "e",
                                "msdyn_customergroupid": "g-5"})  # fmt: skip
        with anyio.fail_after(10):
            await rep.wait_idle()
    assert linked.is_set(), "the account was never checked with its group unlinked"
    (customer,) = fno.rows("CustomersV3").values()
    assert customer["CustomerGroupId"] == "30"
