"""The F&O side's ``poll`` feed against the F&O emulator: rows whose modified date-time moved
since the cursor, each once, read as they are now; an entity without the field is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fno_emulated import KEY, customers, side_options

from adapters.fno import create_side as create_fno_side
from emulators.fno import Edm, FieldDef, FnoEmulator, Registry
from emulators.fno.store import key_of
from replicator.adapter import EntitySpec
from replicator.errors import SchemaError

pytestmark = pytest.mark.anyio
SECRET_ENV = "FNO_POLL_SECRET"
CUSTOMERS = customers(
    FieldDef(name="ModifiedDateTime", edm=Edm.DATETIME, label="Modified"),
    modified_field="ModifiedDateTime",
)
SPEC = EntitySpec("CustomersV3", ("OrganizationName",), KEY)


async def test_the_poll_feed_gives_what_changed_since_its_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FnoEmulator(tmp_path, registry=Registry([CUSTOMERS]), seed=False) as fno:

        def edit(values: dict[str, str]) -> None:
            """The application writes a row, its modified date-time set as F&O's kernel does."""
            stamped = {
                **values,
                "ModifiedDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            row = fno.store.get(CUSTOMERS, key_of(CUSTOMERS, stamped))
            if row is None:
                fno.store.insert(CUSTOMERS, stamped)
            else:
                fno.store.update(CUSTOMERS, row, stamped)

        monkeypatch.setenv(SECRET_ENV, fno.client_secret)
        options = side_options(fno, SECRET_ENV, feed="poll")
        side = create_fno_side("fno", options, tmp_path)
        await side.open()
        await side.prepare([SPEC])
        start = await side.head_cursor()
        for account in ("US-001", "US-002"):
            edit({"dataAreaId": "usmf", "CustomerAccount": account, "OrganizationName": "A"})
        first = await side.read_changes(start, 100)
        assert [c.native_id for c in first.changes] == [
            "dataAreaId='usmf',CustomerAccount='US-001'",
            "dataAreaId='usmf',CustomerAccount='US-002'",
        ]
        assert (await side.read_changes(first.cursor, 100)).changes == []  # overlap dropped
        edit({"dataAreaId": "usmf", "CustomerAccount": "US-002", "OrganizationName": "B"})
        second = await side.read_changes(first.cursor, 100)
        assert [
            (c.native_id[-8:], (c.values or {}).get("OrganizationName")) for c in second.changes
        ] == [("'US-002'", "B")]
        await side.close()
        other = create_fno_side(
            "fno", {**options, "poll_fields": {"CustomersV3": "Stamp"}}, tmp_path
        )
        await other.open()
        with pytest.raises(SchemaError, match="modified date-time field .poll_field. 'Stamp'"):
            await other.check([SPEC])
        await other.close()
