"""A reconcile step that writes both sides, whose second write fails transiently after its
first one was applied (a side away, a 429, a conflict that keeps coming).

The actor retries the change with the link as last committed (``RecordActor.backoff``
reloads it), so the first write's token is not the link's: that write's echo is handled as
a change of the row, which then holds the merged values, and is a no-op (on a side without
tokens, an echo known by the version the retry read). The record must converge with one
applied write per side, the link naming both rows as they are, nothing queued, and the
engine idle: an echo taken for a user's edit each time would loop.

Three steps that write both sides, on memory sides in-process (no crash, no timing):

* **revert**: crm edits the name and the fno-owned phone; the step writes the name to fno,
  then sets crm's phone back, and that crm write fails.
* **write_conflict**: fno raises the credit limit; just before the step's crm write, a crm
  user renames the record (a change crm's feed loses), so that write answers ``conflict``
  and the merge writes the credit limit to crm, then the name to fno, and that fno write
  fails. Retried with the link as the step left it, the name would never reach fno.
* **edited_between**: as revert, and a fno user renames the record once the first write
  is made: the retry meets that rename, a conflict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import pytest
import structlog.testing

from adapters.memory import MemorySide
from conftest import write_config
from replicator import mapping
from replicator.adapter import WriteOp, WriteResult
from replicator.engine import Replicator

pytestmark = pytest.mark.anyio

FNO, CRM = "CustomersV3", "accounts"
KEY = mapping.encode_key(("C1",))
CONFIG = """
[engine]
retry_first_s = 0.01
retry_max_s = 0.05

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "Name", crm = "name" },
           { fno = "Phone", crm = "telephone1", direction = "fno->crm" },
           { fno = "CreditLimit", crm = "creditlimit" } ]
"""
FIELDS = {"Name": "name", "Phone": "telephone1", "CreditLimit": "creditlimit"}

Hook = Callable[[], Awaitable[None]]


class HookedSide(MemorySide):
    """A memory side on which a hook may run (a user's edit) just before the replicator's
    next write; ``tokens=False``: its feed carries no tokens (echoes are known by version)."""

    def __init__(self, name: str, *, tokens: bool) -> None:
        super().__init__(name, tokens=tokens)
        self.hooks: list[Hook] = []

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        if self.hooks:
            await self.hooks.pop(0)()
        return await super().write(ops)

    def only(self) -> str:
        [native_id] = self.tables[FNO if self.name == "fno" else CRM]
        return native_id


def revert(fno: HookedSide, crm: HookedSide) -> None:
    """crm renames C1 and edits the phone fno owns: fno gets the name, crm the phone back."""
    crm.update(CRM, crm.only(), {"name": "b", "telephone1": "999"})


def write_conflict(fno: HookedSide, crm: HookedSide) -> None:
    """fno raises the credit limit; a crm rename lands just before the step's crm write,
    lost by crm's feed: only the step, which learns it from that write's conflict, can
    take it to fno."""

    async def rename() -> None:
        crm.lose_changes(1.0)
        crm.update(CRM, crm.only(), {"name": "b"})
        crm.lose_changes(0)

    crm.hooks.append(rename)
    fno.update(FNO, fno.only(), {"CreditLimit": 2.0})


def edited_between(fno: HookedSide, crm: HookedSide) -> None:
    """As ``revert``, and a fno user renames C1 to c once the name b is written there, just
    before crm's write fails: the retry meets c (a conflict the map gives fno)."""

    async def rename() -> None:
        fno.update(FNO, fno.only(), {"Name": "c"})

    crm.hooks.append(rename)
    revert(fno, crm)


class Step(NamedTuple):
    make: Callable[[HookedSide, HookedSide], None]
    source: str
    """The side of the change the step applies."""
    failing: str
    """The side of its second write, the one that fails."""
    wanted: dict[str, Any]
    """What both sides end with (fno's names)."""
    outcome: str
    reverted: bool
    """Whether the step sets back an edit of the fno-owned phone (logged once)."""
    changes: int
    """The changes the sides' feeds report: the step's, its writes' echoes, users' edits."""


STEPS = {
    "revert": Step(
        make=revert,
        source="crm",
        failing="crm",
        wanted={"Name": "b", "Phone": "555", "CreditLimit": 1.0},
        outcome="applied",
        reverted=True,
        changes=3,
    ),
    "write_conflict": Step(
        make=write_conflict,
        source="fno",
        failing="fno",
        wanted={"Name": "b", "Phone": "555", "CreditLimit": 2.0},
        outcome="applied",
        reverted=False,
        changes=3,
    ),
    "edited_between": Step(
        make=edited_between,
        source="crm",
        failing="crm",
        wanted={"Name": "c", "Phone": "555", "CreditLimit": 1.0},
        outcome="conflict",
        reverted=True,
        changes=4,
    ),
}


@pytest.mark.parametrize("tokens", [True, False], ids=["tokens", "no_tokens"])
@pytest.mark.parametrize("failures", [1, 3])
@pytest.mark.parametrize("name", sorted(STEPS))
async def test_a_second_write_that_fails_transiently_is_retried_and_the_record_converges(
    tmp_path: Path, name: str, failures: int, tokens: bool
) -> None:
    """The step's first write is applied, its second fails ``failures`` times, then is
    made: both sides hold the merged values, the link names them at their versions with
    that shadow, no error, one applied write per side, and each change logged once."""
    step = STEPS[name]
    fno, crm = HookedSide("fno", tokens=tokens), HookedSide("crm", tokens=tokens)
    failing = fno if step.failing == "fno" else crm
    cfg = write_config(tmp_path, CONFIG)
    with structlog.testing.capture_logs() as logs:
        async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
            fno.insert(
                FNO, {"CustomerAccount": "C1", "Name": "a", "Phone": "555", "CreditLimit": 1.0}
            )
            await idle(rep)
            before = {side.name: side.writes for side in (fno, crm)}
            logs.clear()
            failing.fail_writes(failures, "transient", reason="429 Too Many Requests")
            step.make(fno, crm)
            await idle(rep)
            link = await rep.ctx.store.link_by_key("customers", KEY)
            errors = await rep.ctx.store.errors()
            intents = await rep.ctx.store.intents()
            parked = (await rep.status())["maps"][0]["parked"]
    [fno_row] = fno.tables[FNO].values()
    [crm_row] = crm.tables[CRM].values()
    assert {f: fno_row.values[f] for f in FIELDS} == step.wanted
    assert {c: crm_row.values[c] for c in FIELDS.values()} == {
        c: step.wanted[f] for f, c in FIELDS.items()
    }
    assert link is not None
    assert link.shadow == {"CustomerAccount": "C1", **step.wanted}
    assert link.ids == [fno.only(), crm.only()]
    assert link.versions == [str(fno_row.version), str(crm_row.version)]
    assert (errors, intents, parked) == ([], [], 0)
    writes = {side.name: side.writes - before[side.name] for side in (fno, crm)}
    assert writes == {"fno": 1, "crm": 1}, (
        "more: a write made twice, or an echo taken for an edit again and again"
    )

    retries = events(logs, "retrying")
    assert [e["attempt"] for e in retries] == list(range(1, failures + 1))
    assert all(e["side"] == step.source and "429" in e["reason"] for e in retries)
    changes = [(e["side"], e["outcome"]) for e in events(logs, "change")]
    assert changes[0] == (step.source, step.outcome)
    # then the echoes (the first write's is not the link's token: it is a no-op) and edits
    # the step took in already, each dropped or a no-op
    assert len(changes) == step.changes, changes
    assert {outcome for _, outcome in changes[1:]} <= {"echo", "noop"}, changes
    assert len(events(logs, "one_way_reverted")) == step.reverted
    # a conflict is logged with both values by each try that meets it
    conflicts = [
        (e["field"], e["base"], e["fno"], e["crm"], e["winner"]) for e in events(logs, "conflict")
    ]
    assert set(conflicts) == (
        {("Name", "a", "c", "b", "fno")} if step.outcome == "conflict" else set()
    )


async def idle(rep: Replicator) -> None:
    with anyio.fail_after(15):
        await rep.wait_idle()


def events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    """The captured events ``name`` of record C1 of the customers map."""
    return [e for e in logs if e["event"] == name and e.get("key") == KEY]
