"""Map rules as pure functions (DESIGN §4): three-way merge, ownership, conflicts, create/delete."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from replicator import rules
from replicator.adapter import UNKNOWN_VERSION
from replicator.config import TableMap, parse_config

CONFIG = """
[state]
path = "state.db"

[sides.fno]
adapter = "memory"

[sides.crm]
adapter = "memory"

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [
  { fno = "Name", crm = "name" },
  { fno = "CreditLimit", crm = "creditlimit" },
  { fno = "Latitude", crm = "latitude", direction = "fno->crm" },
  { fno = "LanguageId", crm = "language", direction = "crm->fno" },
]
create = ["fno"]
delete = ["crm"]
conflict = "crm"
initial_master = "crm"
"""

BASE = {
    "CustomerAccount": "C1",
    "Name": "A",
    "CreditLimit": 10,
    "Latitude": 1.0,
    "LanguageId": "en",
}


@pytest.fixture(scope="module")
def customers() -> TableMap:
    """The customers map of ``CONFIG``: crm wins conflicts and is the initial master."""
    return parse_config(tomllib.loads(CONFIG), Path("test.toml")).map_named("customers")


def with_policy(m: TableMap, **changes: object) -> TableMap:
    """``m`` with some attributes replaced (conflict policy, initial master)."""
    return msgspec.structs.replace(m, **changes)


def test_merge_takes_the_side_that_changed_a_field(customers: TableMap) -> None:
    """A field changed on one side only takes that side's value, whichever side it is."""
    fno = {**BASE, "Name": "B"}
    crm = {**BASE, "CreditLimit": 20}
    merged = rules.merge(customers, BASE, (fno, crm), winner=1)
    assert merged.values == {**BASE, "Name": "B", "CreditLimit": 20}
    assert merged.conflicts == []


def test_merge_of_unchanged_sides_is_the_shadow(customers: TableMap) -> None:
    """When neither side changed anything the merge is the shadow, without conflicts."""
    merged = rules.merge(customers, BASE, (dict(BASE), dict(BASE)), winner=0)
    assert merged.values == BASE
    assert merged.conflicts == []


def test_both_sides_changing_to_the_same_value_is_no_conflict(customers: TableMap) -> None:
    """Both sides making the same edit agree: no conflict is reported."""
    both = {**BASE, "Name": "B"}
    merged = rules.merge(customers, BASE, (dict(both), dict(both)), winner=1)
    assert merged.values["Name"] == "B"
    assert merged.conflicts == []


@pytest.mark.parametrize("winner", [0, 1])
def test_conflicting_edits_are_decided_by_the_winner_and_reported(
    customers: TableMap, winner: int
) -> None:
    """Both sides changing a field differently: the winner's value, and a logged conflict."""
    fno = {**BASE, "Name": "F"}
    crm = {**BASE, "Name": "C"}
    merged = rules.merge(customers, BASE, (fno, crm), winner=winner)
    assert merged.values["Name"] == ("F", "C")[winner]
    assert merged.conflicts == [rules.FieldConflict("Name", "A", ("F", "C"), winner)]


def test_one_way_field_takes_its_owners_value(customers: TableMap) -> None:
    """A one-way field takes its owner's value even if only the other side changed it."""
    fno = {**BASE, "LanguageId": "da"}  # crm owns LanguageId
    crm = {**BASE, "Latitude": 9.0}  # fno owns Latitude
    merged = rules.merge(customers, BASE, (fno, crm), winner=0)
    assert merged.values["Latitude"] == 1.0
    assert merged.values["LanguageId"] == "en"
    assert merged.conflicts == []


def test_owner_of_fields(customers: TableMap) -> None:
    """One-way fields are owned by their source side; both-ways fields by none."""
    owners = {f.id: rules.owner(f) for f in customers.all_fields}
    assert owners == {
        "CustomerAccount": None,
        "Name": None,
        "CreditLimit": None,
        "Latitude": 0,
        "LanguageId": 1,
    }


def test_field_flows_only_from_its_owner(customers: TableMap) -> None:
    """A one-way field flows from its source side only; a both-ways field from either."""
    flows = {f.id: (f.flows(0), f.flows(1)) for f in customers.fields}
    assert flows["Name"] == (True, True)
    assert flows["Latitude"] == (True, False)
    assert flows["LanguageId"] == (False, True)


@pytest.mark.parametrize("source", [0, 1])
def test_conflict_winner_is_the_maps_side(customers: TableMap, source: int) -> None:
    """With ``conflict = "crm"`` crm wins, whoever changed last and whichever change came."""
    assert rules.conflict_winner(customers, (2.0, 1.0), source) == 1
    assert rules.conflict_winner(with_policy(customers, conflict=0), (1.0, 2.0), source) == 0


def test_conflict_winner_newest_is_the_later_change(customers: TableMap) -> None:
    """With ``conflict = "newest"`` the side whose row changed last wins."""
    newest = with_policy(customers, conflict="newest")
    assert rules.conflict_winner(newest, (2.0, 1.0), source=1) == 0
    assert rules.conflict_winner(newest, (1.0, 2.0), source=0) == 1


@pytest.mark.parametrize("times", [(1.0, 1.0), (None, 2.0), (2.0, None)])
def test_conflict_winner_newest_falls_back_to_the_source(
    customers: TableMap, times: tuple[float | None, float | None]
) -> None:
    """Without two distinct change times, ``newest`` lets the change being handled win."""
    newest = with_policy(customers, conflict="newest")
    assert rules.conflict_winner(newest, times, source=0) == 0
    assert rules.conflict_winner(newest, times, source=1) == 1


def test_initial_merge_takes_the_initial_masters_values(customers: TableMap) -> None:
    """Both sides holding a key: the initial master's values win the both-ways fields."""
    fno = {**BASE, "Name": "F", "CreditLimit": 5}
    crm = {**BASE, "Name": "C", "CreditLimit": 7}
    assert rules.initial_merge(customers, (fno, crm))["Name"] == "C"
    fno_master = with_policy(customers, initial_master=0)
    assert rules.initial_merge(fno_master, (fno, crm))["CreditLimit"] == 5


def test_initial_merge_fills_the_masters_empty_fields_from_the_other(customers: TableMap) -> None:
    """A field the master leaves empty takes the other side's value."""
    fno = {**BASE, "CreditLimit": 5}
    crm = {**BASE, "CreditLimit": None}
    assert rules.initial_merge(customers, (fno, crm))["CreditLimit"] == 5


def test_initial_merge_gives_one_way_fields_to_their_owner(customers: TableMap) -> None:
    """A one-way field takes its owner's value even when the other side is the master."""
    fno = {**BASE, "Latitude": 5.0, "LanguageId": "da"}
    crm = {**BASE, "Latitude": 7.0, "LanguageId": "sv"}
    for m in (customers, with_policy(customers, initial_master=0)):
        merged = rules.initial_merge(m, (fno, crm))
        assert (merged["Latitude"], merged["LanguageId"]) == (5.0, "sv")


def test_diff_names_the_fields_that_differ() -> None:
    """``diff`` lists the target's fields whose value differs from (or is absent in) current."""
    assert rules.diff({"a": 1, "b": 2, "c": None}, {"a": 1, "b": 3}) == ["b"]
    assert rules.diff({"a": 1, "d": 4}, {"a": 1}) == ["d"]


def test_create_and_delete_rules_name_the_allowed_sides(customers: TableMap) -> None:
    """``create = ["fno"]`` allows births on fno only; ``delete = ["crm"]`` deletes from crm."""
    assert (rules.may_create(customers, 0), rules.may_create(customers, 1)) == (True, False)
    assert (rules.may_delete(customers, 0), rules.may_delete(customers, 1)) == (False, True)


def test_reverted_names_the_one_way_fields_the_non_owner_edited(customers: TableMap) -> None:
    """crm edits fno's Latitude and fno edits crm's LanguageId: both are reverts, with the
    refused value and the owner's; an owner's edit and a both-ways edit are not."""
    fno = {**BASE, "LanguageId": "fr", "Name": "B"}
    crm = {**BASE, "Latitude": 9.0}
    merged = rules.merge(customers, BASE, (fno, crm), 1).values
    reverts = rules.reverted(customers, BASE, (fno, crm), merged)
    assert [(r.field.id, r.side, r.refused, r.owned) for r in reverts] == [
        ("Latitude", 1, 9.0, 1.0),
        ("LanguageId", 0, "fr", "en"),
    ]
    owner_edits = ({**BASE, "Latitude": 2.0}, {**BASE, "LanguageId": "de"})
    merged = rules.merge(customers, BASE, owner_edits, 1).values
    assert rules.reverted(customers, BASE, owner_edits, merged) == []


def test_reverted_says_nothing_of_a_field_the_shadow_lacks(customers: TableMap) -> None:
    """Without a shadow value (a first link) a differing non-owner value is no user edit."""
    base = {k: v for k, v in BASE.items() if k != "Latitude"}
    vals = (dict(BASE), {**BASE, "Latitude": 9.0})
    merged = rules.merge(customers, base, vals, 1).values
    assert rules.reverted(customers, base, vals, merged) == []


# -- the link after a write (rules.after_write) ---------------------------------------------

UNKNOWN = UNKNOWN_VERSION


def versions_of(side: int, written: str | None, other: str | None) -> list[str | None]:
    """Both sides' versions, in side order, from the written side's and the other's."""
    return [written, other] if side == 0 else [other, written]


@pytest.mark.parametrize("side", [0, 1])
def test_after_a_write_a_row_holding_the_new_shadow_keeps_its_version(side: int) -> None:
    """The other side holds what was written: the shadow is the write, the other side's
    version stays, and so does the one the write answered."""
    shadow = {"Name": "A", "CreditLimit": 10}
    written = {"Name": "B", "CreditLimit": 10}
    after = rules.after_write(shadow, side, written, dict(written), versions_of(side, "8", "7"))
    assert after.shadow == written
    assert after.versions == versions_of(side, "8", "7")
    intent = rules.after_write(
        shadow, side, written, dict(written), versions_of(side, UNKNOWN, "7")
    )
    assert intent.versions == versions_of(side, UNKNOWN, "7")


@pytest.mark.parametrize("side", [0, 1])
def test_after_a_write_a_row_lacking_a_written_field_has_an_unknown_version(side: int) -> None:
    """The other side still lacks a written value (to be written next): the shadow keeps
    the old one, so neither row holds it and both versions go unknown."""
    shadow = {"Name": "A", "CreditLimit": 10}
    written = {"Name": "B", "CreditLimit": 20}
    other = {"Name": "B"}
    after = rules.after_write(shadow, side, written, other, versions_of(side, "8", "7"))
    assert after.shadow == {"Name": "B", "CreditLimit": 10}
    assert after.versions == [UNKNOWN, UNKNOWN]


@pytest.mark.parametrize("side", [0, 1])
def test_after_a_write_a_one_way_field_to_set_back_makes_the_other_version_unknown(
    side: int,
) -> None:
    """The other side edited the name and the written side's one-way Latitude (to be set
    back there); the name is written: the written row holds the shadow, the other not."""
    shadow = {"Name": "A", "Latitude": 1.0}
    written = {"Name": "B", "Latitude": 1.0}
    other = {"Name": "B", "Latitude": 9.0}
    after = rules.after_write(shadow, side, written, other, versions_of(side, "40", "110"))
    assert after.shadow == {"Name": "B", "Latitude": 1.0}
    assert after.versions == versions_of(side, "40", UNKNOWN)


def test_after_a_write_a_none_version_goes_unknown_unless_kept() -> None:
    """A None version goes unknown when its row does not hold the shadow; with
    ``keep_none`` (the initial sync: no row there yet) it stays None, and only None does."""
    shadow = {"Name": "A"}
    written = {"Name": "B"}
    assert rules.after_write(shadow, 0, written, {}, [UNKNOWN, None]).versions == [
        UNKNOWN,
        UNKNOWN,
    ]
    kept = rules.after_write(shadow, 0, written, {}, [UNKNOWN, None], keep_none=True)
    assert kept.versions == [UNKNOWN, None]
    assert kept.shadow == {"Name": "A"}
    assert rules.after_write(shadow, 0, written, {}, ["8", "7"], keep_none=True).versions == [
        UNKNOWN,
        UNKNOWN,
    ]
    held = rules.after_write(shadow, 0, written, dict(written), [UNKNOWN, None])
    assert held.versions == [UNKNOWN, None]
