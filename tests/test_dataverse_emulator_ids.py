"""The emulator's new-row ids: sequential GUIDs, so primary-id order is creation order."""

from __future__ import annotations

import uuid

from emulators.dataverse import Tables
from emulators.dataverse.standard import SYSTEMUSER


def sql_server_order(guid: str) -> bytes:
    """A GUID's sort key as SQL Server compares uniqueidentifiers: the last six bytes first,
    then the two before them (the rest, fixed in the emulator's ids, after)."""
    raw = uuid.UUID(guid).bytes
    return raw[10:16] + raw[8:10] + raw[6:8] + raw[4:6] + raw[0:4]


def test_new_rows_get_increasing_ids_even_when_the_clock_stands_still_or_goes_back() -> None:
    """Ids rise with each new row, as text and in SQL Server's order, whatever the clock does."""
    now = [100.0]
    db = Tables([SYSTEMUSER], clock=lambda: now[0])
    ids = []
    for moment in (100.0, 100.0, 99.0, 250.0):  # still, still, back, forward
        now[0] = moment
        ids.append(db.create("systemusers", {"fullname": f"at {moment}"})["systemuserid"])
    assert ids == sorted(ids) == sorted(ids, key=sql_server_order)
    assert len(set(ids)) == 4 and all(str(uuid.UUID(i)) == i for i in ids)


def test_a_given_id_is_kept() -> None:
    """A create that names its id gets exactly that id, lower-cased."""
    db = Tables([SYSTEMUSER])
    given = "7EB682F1-CA75-E511-80D4-00155D2A68D1"
    assert db.create("systemusers", {}, guid=given)["systemuserid"] == given.lower()
