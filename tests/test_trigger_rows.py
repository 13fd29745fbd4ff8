"""A row a side's own trigger makes inside our write is a record of its own.

The trigger's row carries our write's token (it is in our transaction), so the router
sends its change to the actor that wrote, as it does our insert's echo. That actor hands
it back (``requeued``): once the actor is done it is routed again, by its own key, and
replicated like any row a user made.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import structlog.testing

from adapters.memory import MemorySide
from conftest import routed, until, write_config
from replicator.adapter import WriteOp, WriteResult
from replicator.engine import Replicator

pytestmark = pytest.mark.anyio

MAP = """
[[maps]]
name = "items"
fno = "items"
crm = "products"
key = [ { fno = "code", crm = "code" } ]
fields = [ { fno = "name", crm = "name" } ]
"""


class TriggerSide(MemorySide):
    """A side whose trigger adds a row ``<code>-copy`` to each insert, in the same write
    (so with its token); the write returns once the router has routed that row's change
    (so the writing actor is still at work when it gets it)."""

    replicator: Replicator

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results = await super().write(ops)
        for op in ops:
            if op.op == "insert" and not str(op.values["code"]).endswith("-copy"):
                copy = {"code": f"{op.values['code']}-copy", "name": "made by a trigger"}
                self._put(op.entity, self._new_id(op.entity), copy, op.token)
        await until(lambda: routed(self.replicator, self.feed, "items", 1))
        return results


async def test_a_row_a_trigger_adds_to_our_insert_is_handed_back_and_replicated(
    tmp_path: Path,
) -> None:
    """A trigger's row in our insert is handed back once, then replicated as its own record."""
    fno, crm = MemorySide("fno"), TriggerSide("crm")
    with structlog.testing.capture_logs() as logs:
        async with Replicator(write_config(tmp_path, MAP), sides={"fno": fno, "crm": crm}) as rep:
            crm.replicator = rep
            await rep.wait_idle()
            fno.insert("items", {"code": "A", "name": "a"})
            await rep.wait_idle()
    both = {("A", "a"), ("A-copy", "made by a trigger")}
    for side, entity in ((fno, "items"), (crm, "products")):
        assert {(v["code"], v["name"]) for v in side.rows(entity).values()} == both
    handed_back = [e for e in logs if e.get("outcome") == "requeued"]
    assert [(e["side"], e["map"]) for e in handed_back] == [("crm", "items")]
    created = [e for e in logs if e.get("event") == "change" and e.get("outcome") == "applied"]
    assert sorted(e["key"] for e in created) == ['["A"]', '["A-copy"]']
