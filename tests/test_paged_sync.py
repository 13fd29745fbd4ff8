"""The initial sync a page at a time: bounded reads, and duplicate keys across pages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from adapters.memory import MemorySide
from conftest import NAME_PHONE_MAP, SELF_REFERENCE_MAP, write_config
from replicator.adapter import Row, ScanPage, Value
from replicator.engine import Replicator

PAGE = 2
PAGED_MAP = NAME_PHONE_MAP + f"\n[engine]\nbatch_size = {PAGE}\n"


class Recording(MemorySide):
    """A memory side that records how many rows each read asked for or gave."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.reads: list[int] = []

    async def scan(self, entity: str, page: str | None, limit: int) -> ScanPage:
        found = await super().scan(entity, page, limit)
        self.reads.append(max(limit, len(found.rows)))
        return found

    async def find(
        self, entity: str, key_fields: Sequence[str], keys: Sequence[tuple[Value, ...]]
    ) -> dict[tuple[Value, ...], Row]:
        self.reads.append(len(keys))
        return await super().find(entity, key_fields, keys)

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        self.reads.append(len(native_ids))
        return await super().get(entity, native_ids)


def customer(account: str, name: str = "n") -> dict[str, object]:
    return {"CustomerAccount": account, "Name": name, "Phone": None}


def account(account: str, name: str = "n") -> dict[str, object]:
    return {"accountnumber": account, "name": name, "telephone1": None}


async def synced(tmp_path: Path, fno: MemorySide, crm: MemorySide) -> list[tuple[int, str, str]]:
    """Sync once; the error queue as (side, native id, reason)."""
    sides = {"fno": fno, "crm": crm}
    async with Replicator(
        write_config(tmp_path, PAGED_MAP), sides=sides, initial_sync=False, live=False
    ) as rep:
        await rep.sync()
        return [(e.side, e.native_id, e.reason) for e in await rep.ctx.store.errors()]


def accounts(side: MemorySide, entity: str, field: str) -> list[object]:
    return sorted(v[field] for v in side.rows(entity).values())


@pytest.mark.anyio
async def test_no_read_of_the_sync_asks_for_more_than_a_page(tmp_path: Path) -> None:
    """Both sides are read a page (the batch size) at a time, and every record is synced."""
    fno, crm = Recording("fno"), Recording("crm")
    for i in range(7):
        fno.insert("CustomersV3", customer(f"F{i}"))
        crm.insert("accounts", account(f"R{i}"))
    for i in range(3):
        fno.insert("CustomersV3", customer(f"B{i}"))
        crm.insert("accounts", account(f"B{i}", "other"))
    assert await synced(tmp_path, fno, crm) == []
    assert len(fno.reads) > 5 and max(fno.reads + crm.reads) <= PAGE
    assert accounts(fno, "CustomersV3", "CustomerAccount") == accounts(
        crm, "accounts", "accountnumber"
    )
    assert len(crm.rows("accounts")) == 17


# C1 again in the next page (planned while the first page is written) or two pages on
LATER_PAGES = [("C1", "C2", "C1", "C3", "C4"), ("C1", "C2", "C3", "C4", "C1")]


def duplicate(side: int, native_id: str, name: str, other: str) -> tuple[int, str, str]:
    return (side, native_id, f'duplicate key ["C1"] on side {name!r}: also row {other}')


@pytest.mark.anyio
@pytest.mark.parametrize("codes", LATER_PAGES)
async def test_a_key_met_again_in_a_later_page_of_the_first_side_is_a_duplicate(
    tmp_path: Path, codes: tuple[str, ...]
) -> None:
    """fno holds C1 in its first page and in a later one: the later row is queued."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    ids = [fno.insert("CustomersV3", customer(a)) for a in codes]
    again = ids[codes.index("C1", 1)]
    assert await synced(tmp_path, fno, crm) == [duplicate(0, again, "fno", ids[0])]
    assert accounts(crm, "accounts", "accountnumber") == ["C1", "C2", "C3", "C4"]


@pytest.mark.anyio
@pytest.mark.parametrize("codes", LATER_PAGES)
@pytest.mark.parametrize("on_fno", [False, True])
async def test_a_key_met_again_in_a_later_page_of_the_second_side_is_a_duplicate(
    tmp_path: Path, on_fno: bool, codes: tuple[str, ...]
) -> None:
    """crm holds C1 in its first page and in a later one (fno holds C1 too, or not): the
    later row is queued, the first is linked, and fno ends with C1 once."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    if on_fno:
        fno.insert("CustomersV3", customer("C1"))
    ids = [crm.insert("accounts", account(a)) for a in codes]
    again = ids[codes.index("C1", 1)]
    assert await synced(tmp_path, fno, crm) == [duplicate(1, again, "crm", ids[0])]
    assert accounts(fno, "CustomersV3", "CustomerAccount") == ["C1", "C2", "C3", "C4"]


@pytest.mark.anyio
async def test_a_key_repeated_within_a_page_is_a_duplicate(tmp_path: Path) -> None:
    """Two rows of one page share a key: the first in scan order keeps it."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    ids = [fno.insert("CustomersV3", customer("C1", name)) for name in ("first", "second")]
    errors = await synced(tmp_path, fno, crm)
    assert errors == [(0, ids[1], f"duplicate key [\"C1\"] on side 'fno': also row {ids[0]}")]
    assert [v["name"] for v in crm.rows("accounts").values()] == ["first"]


@pytest.mark.anyio
async def test_lookups_into_the_same_map_across_pages_reach_the_other_side(
    tmp_path: Path,
) -> None:
    """Invoice accounts point into the same page, the page before and the page after: once
    the sync and its patches ran, crm holds every one of them."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    invoices = {"C1": "C2", "C2": None, "C3": "C1", "C4": "C5", "C5": "C3", "C6": "C4"}
    for account_, invoice in invoices.items():
        fno.insert(
            "CustomersV3",
            {"CustomerAccount": account_, "Name": account_, "InvoiceAccount": invoice},
        )
    config = write_config(tmp_path, SELF_REFERENCE_MAP + f"\n[engine]\nbatch_size = {PAGE}\n")
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
        assert await rep.ctx.store.errors() == []
    assert {v["accountnumber"]: v["billingaccount"] for v in crm.rows("accounts").values()} == (
        invoices
    )
