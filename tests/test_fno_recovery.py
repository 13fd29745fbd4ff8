"""The window between a write to F&O and the commit of its outcome, cut by a crash (in-process).

Like test_recovery.py, with the F&O emulator on one side and SQLite on the other: a
``DyingFnoSide`` makes its armed write in F&O and then never answers; cancelling the engine
then is a kill -9 at that instant. After the restart recovery must see the write as made
(F&O's feed carries no tokens, so it reads the row back), so a later edit of the same field
is a plain change, not a conflict against a stale shadow.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from fno_emulated import customers, side_options

from adapters.fno import FnoSide
from adapters.fno import create_side as create_fno_side
from adapters.sqlite import create_side as create_sqlite_side
from conftest import until, write_config
from emulators.fno import Edm, FieldDef, FnoEmulator, Registry
from emulators.fno.store import key_of
from replicator.adapter import WriteOp, WriteResult
from replicator.engine import Replicator

pytestmark = pytest.mark.anyio
SECRET_ENV, HOOK_ENV = "FNO_RECOVERY_SECRET", "FNO_RECOVERY_HOOK_KEY"
CUSTOMERS = customers(FieldDef(name="CreditLimit", edm=Edm.DECIMAL, label="Credit limit"))
MAP = """
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [
  { fno = "OrganizationName", crm = "name" },
  { fno = "CreditLimit", crm = "creditlimit" },
]
"""
KEY = {"dataAreaId": "usmf", "CustomerAccount": "US-001"}


class DyingFnoSide(FnoSide):
    """An F&O side whose armed write reaches F&O and then never answers."""

    armed = False
    applied: anyio.Event

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        if not self.armed:
            return await super().write(ops)
        await super().write(ops)
        self.applied.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


def crm_credit(app: sqlite3.Connection) -> Any:
    row = app.execute("SELECT creditlimit FROM accounts WHERE accountnumber = 'US-001'").fetchone()
    return row and row[0]


async def test_a_write_to_fno_whose_outcome_was_lost_is_recovered_as_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """crm edits a credit limit, the process dies after F&O took the write and before its
    outcome was committed; after the restart a second crm edit reaches F&O unopposed."""
    async with FnoEmulator(tmp_path / "fno", registry=Registry([CUSTOMERS]), seed=False) as fno:
        monkeypatch.setenv(SECRET_ENV, fno.client_secret)
        fno.store.insert(CUSTOMERS, {**KEY, "OrganizationName": "Contoso", "CreditLimit": 50000})
        monkeypatch.setenv(HOOK_ENV, "recovery-hook-key-1c3e")
        options = side_options(fno, SECRET_ENV, hook_key_env=HOOK_ENV)
        app = sqlite3.connect(tmp_path / "crm.db", isolation_level=None)
        app.execute(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, company TEXT, accountnumber TEXT,"
            " name TEXT, creditlimit REAL)"
        )
        config = write_config(tmp_path, MAP)

        def sides(dying: bool = False) -> dict[str, Any]:
            side = create_fno_side("fno", options, tmp_path)
            if dying:
                side.__class__ = DyingFnoSide
            crm = create_sqlite_side("crm", {"path": "crm.db", "poll_interval_ms": 10}, tmp_path)
            return {"fno": side, "crm": crm}

        def fno_credit() -> object:
            row = fno.store.get(CUSTOMERS, key_of(CUSTOMERS, KEY))
            return row and float(row.values["CreditLimit"])

        first = sides(dying=True)
        with anyio.CancelScope() as kill:
            async with Replicator(config, sides=first) as rep:
                with anyio.fail_after(15):
                    await rep.wait_idle()
                    assert crm_credit(app) == 50000
                    first["fno"].armed = True
                    first["fno"].applied = anyio.Event()
                    app.execute("UPDATE accounts SET creditlimit = 62915.18")
                    await first["fno"].applied.wait()
                kill.cancel()
        assert fno_credit() == 62915.18

        async with Replicator(config, sides=sides()) as rep:
            with anyio.fail_after(15):
                await rep.wait_idle()
            app.execute("UPDATE accounts SET creditlimit = 20411.42")
            await until(lambda: fno_credit() == 20411.42)
            with anyio.fail_after(15):
                await rep.wait_idle()
            assert crm_credit(app) == 20411.42  # a conflict would have put F&O's value back
        app.close()
