"""The benchmark's baseline, bench/naive_sync.py, is correct: it is the thing to beat."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import _common as c  # noqa: E402
import naive_sync as naive  # noqa: E402

Sides = tuple[sqlite3.Connection, sqlite3.Connection, Path]


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[Sides]:
    c.create_sides(tmp_path, fno_rows=3)
    with (
        closing(c.connect(tmp_path / "fno.db")) as fno,
        closing(c.connect(tmp_path / "crm.db")) as crm,
    ):
        yield fno, crm, tmp_path


def test_changes_on_either_side_reach_the_other_and_are_not_echoed(sides: Sides) -> None:
    """Inserts, updates and deletes go both ways; the pass after copies nothing back."""
    fno, crm, folder = sides
    seen = naive.sync_pass(fno, crm, {}, {})[:2]
    fno.execute("UPDATE CustomersV3 SET AddressCity = 'Oslo' WHERE CustomerAccount = 'C0000000'")
    crm.execute("DELETE FROM accounts WHERE accountnumber = 'C0000001'")
    crm.execute(c.CRM_UPSERT, c.customer(7))
    seen_fno, seen_crm, to_crm, to_fno = naive.sync_pass(fno, crm, *seen)
    assert (to_crm, to_fno, c.same_rows(folder)) == (1, 2, True)
    assert naive.sync_pass(fno, crm, seen_fno, seen_crm)[2:] == (0, 0)


def test_a_row_changed_on_both_sides_in_one_pass_takes_fnos_values(sides: Sides) -> None:
    """A conflict within one pass: fno wins, and both sides end equal."""
    fno, crm, folder = sides
    seen = naive.sync_pass(fno, crm, {}, {})[:2]
    fno.execute("UPDATE CustomersV3 SET CreditLimit = 5 WHERE CustomerAccount = 'C0000002'")
    crm.execute("UPDATE accounts SET creditlimit = 7 WHERE accountnumber = 'C0000002'")
    naive.sync_pass(fno, crm, *seen)
    assert c.same_rows(folder)
    assert c.scalar(crm, "SELECT creditlimit FROM accounts WHERE accountnumber = 'C0000002'") == 5


def test_a_change_made_during_a_pass_is_not_written_over(
    sides: Sides, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An fno row changed after the pass read it keeps its change (the copy from crm
    into it is skipped), and the next pass settles the conflict: fno wins."""
    fno, crm, folder = sides
    seen = naive.sync_pass(fno, crm, {}, {})[:2]
    crm.execute("UPDATE accounts SET name = 'crm edit' WHERE accountnumber = 'C0000000'")
    read = naive.read

    def read_then_race(db: sqlite3.Connection, t: naive.Table) -> naive.Rows:
        rows = read(db, t)
        if t is naive.CRM:  # fno was read just before
            fno.execute("UPDATE CustomersV3 SET AddressCity = 'Rome' WHERE RecId = 1")
        return rows

    monkeypatch.setattr(naive, "read", read_then_race)
    seen = naive.sync_pass(fno, crm, *seen)[:2]
    monkeypatch.setattr(naive, "read", read)
    naive.sync_pass(fno, crm, *seen)
    assert c.same_rows(folder)
    row = "SELECT OrganizationName, AddressCity FROM CustomersV3 WHERE RecId = 1"
    assert fno.execute(row).fetchone() == ("Customer 0", "Rome")
