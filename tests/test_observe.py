"""Observers and the activity ring buffer: what the engine decides about each change, heard."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from adapters._remote.pacing import Budget, Pacer
from adapters.memory import MemorySide
from conftest import write_config
from replicator.adapter import Change
from replicator.backoff import Backoff
from replicator.engine import Replicator
from replicator.model import JournalEntry
from replicator.observe import Activity, ChangeEvent, Observers, observed

pytestmark = pytest.mark.anyio

CUSTOMERS = """
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "Name", crm = "name" } ]
create = ["fno"]
"""


def event(change_id: int, map_name: str = "customers", outcome: str = "applied") -> ChangeEvent:
    return ChangeEvent(
        map=map_name,
        side="fno",
        key=f'["C{change_id}"]',
        outcome=outcome,  # type: ignore[arg-type]
        read_at=1.0,
        committed_at=1.5,
        change_id=change_id,
    )


def entry(change_id: int) -> JournalEntry:
    return JournalEntry(
        id=change_id,
        side=0,
        map="customers",
        change=Change("CustomersV3", "n1", "upsert"),
        received_at=10.0,
    )


def test_activity_keeps_the_last_events_newest_first() -> None:
    """The ring buffer holds only its size, newest first, and counts all it saw."""
    activity = Activity(3)
    for i in range(5):
        activity(event(i))
    assert [e.change_id for e in activity.recent(10)] == [4, 3, 2]
    assert [e.change_id for e in activity.recent(2)] == [4, 3]
    assert activity.seen == 5


def test_activity_filters_by_map() -> None:
    """``recent(limit, map=...)`` gives only that map's events, up to ``limit``."""
    activity = Activity()
    for i in range(6):
        activity(event(i, "customers" if i % 2 else "groups"))
    assert [e.change_id for e in activity.recent(2, map="customers")] == [5, 3]
    assert activity.recent(10, map="nothing") == []


def test_activity_refuses_bad_sizes() -> None:
    """A size below one or a negative limit is an error naming the value."""
    with pytest.raises(ValueError, match="at least 1, not 0"):
        Activity(0)
    with pytest.raises(ValueError, match="not -1"):
        Activity().recent(-1)


def test_observers_fan_out_and_survive_a_failing_listener() -> None:
    """Every listener hears every event; one that raises does not stop the others."""
    observers = Observers()
    heard: list[ChangeEvent] = []

    def broken(_: ChangeEvent) -> None:
        raise RuntimeError("listener bug")

    observers.subscribe(broken)
    unsubscribe = observers.subscribe(heard.append)
    observers.decided(entry(1), "fno", '["C1"]', "applied")
    observers.retrying(entry(2), "fno", None, "side away")
    observers.decided(entry(3), "fno", None, "requeued")  # not an outcome yet: not told
    unsubscribe()
    observers.decided(entry(4), "fno", None, "applied")
    assert [(e.change_id, e.outcome) for e in heard] == [(1, "applied"), (2, "retry")]
    assert heard[0].read_at == 10.0 and heard[0].latency_s is not None
    assert heard[1].committed_at is None and heard[1].latency_s is None


def test_engine_outcomes_map_to_observed_outcomes() -> None:
    """A rule's refusal is observed as ``refused``; a change handed back is not observed."""
    assert observed("rejected") == "refused"
    assert observed("requeued") is None
    assert observed("echo") == "echo"


def test_a_dataverse_429_reaches_the_throttle_listener() -> None:
    """The pacer tells its listener the seconds of each 429 it waits out."""
    pacer = Pacer(
        "crm", 4, kind="dataverse", backoff=Backoff(), budget=Budget(), clock=lambda: 100.0
    )
    waits: list[float] = []
    pacer.on_throttled = waits.append
    pacer.throttled("7", "429")
    assert waits == [7.0]


async def test_engine_reports_applied_echo_and_refused(tmp_path: Path) -> None:
    """A running engine's changes reach its observers and its activity, with keys and sides."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    cfg = write_config(tmp_path, CUSTOMERS)
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
        fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "Contoso"})
        crm.insert("accounts", {"accountnumber": "C2", "name": "born on crm"})
        with anyio.fail_after(10):
            await rep.wait_idle()
        seen = {(e.side, e.key, e.outcome) for e in rep.activity.recent()}
    assert ("fno", '["C1"]', "applied") in seen
    assert ("crm", '["C2"]', "refused") in seen  # create = ["fno"]
    assert any(side == "crm" and outcome == "echo" for side, _, outcome in seen)
    applied = next(e for e in rep.activity.recent() if e.outcome == "applied")
    assert applied.committed_at is not None and applied.committed_at >= applied.read_at
