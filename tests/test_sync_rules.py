"""Initial sync rules on memory sides: what the sync does with rows that change under it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from adapters.memory import MemorySide
from conftest import NAME_PHONE_MAP, write_config
from replicator.adapter import WriteOp, WriteResult
from replicator.engine import Replicator


class EditedBeforeWrite(MemorySide):
    """A side where a user changes C1 just before the sync's first write reaches it."""

    edit: dict[str, object] = {}

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        if self.edit:
            nid = next(k for k, v in self.rows("accounts").items() if v["accountnumber"] == "C1")
            self.update("accounts", nid, dict(self.edit))
            self.edit = {}
        return await super().write(ops)


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
    config = write_config(tmp_path, NAME_PHONE_MAP)
    fno, crm = MemorySide("fno"), EditedBeforeWrite("crm")
    fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "a", "Phone": None})
    crm.insert("accounts", {"accountnumber": "C1", "name": "z", "telephone1": "5"})
    crm.edit = edit
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
    rows = [
        [(v["Name"], v["Phone"]) for v in fno.rows("CustomersV3").values()],
        [(v["name"], v["telephone1"]) for v in crm.rows("accounts").values()],
    ]
    assert rows == [[expected], [expected]]
