"""Convergence (DESIGN §3) under random interleavings of edits on both sides, faults, restarts.

Each example drives two memory sides with creates, updates and deletes of a few keys,
injects transient write faults, waits for the replicator only now and then, and stops
and restarts it (edits made while it is stopped come from the feeds). Once everything is
quiet both sides must agree, hold no duplicates, keep single-side edits, and stay silent.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.memory import MemorySide
from conftest import write_config
from replicator.adapter import Value
from replicator.engine import Replicator

SideName = Literal["fno", "crm"]
Field = Literal["name", "state", "price"]

ENTITY = {"fno": "Items", "crm": "items"}
FIELDS: dict[SideName, dict[str, str]] = {
    "fno": {"key": "Code", "name": "Name", "state": "State", "price": "Price"},
    "crm": {"key": "code", "name": "name", "state": "state", "price": "price"},
}
# Each side writes the values of its own terms; "OR"/"Oregon" are not in the value map
# and pass through. (A side writing the other's terms, e.g. fno "ID", cannot round-trip.)
CHOICES: dict[str, dict[SideName, list[Value]]] = {
    "name": {"fno": ["a", "b", "c", None], "crm": ["a", "b", "c", None]},
    "state": {"fno": ["Idaho", "Washington", "Oregon", None], "crm": ["ID", "WA", "OR", None]},
    "price": {"fno": [1, 2, 3, None], "crm": [1, 2, 3, None]},
}
STATE_MAP = {"Idaho": "ID", "Washington": "WA"}
KEYS = ["K1", "K2", "K3"]
IDLE_TIMEOUT_S = 30.0

CONFIG = """
[engine]
retry_max_s = 0.2

[value_maps.state]
"Idaho" = "ID"
"Washington" = "WA"

[[maps]]
name = "items"
fno = "Items"
crm = "items"
key = [ { fno = "Code", crm = "code" } ]
fields = [
  { fno = "Name", crm = "name" },
  { fno = "State", crm = "state", value_map = "state" },
  { fno = "Price", crm = "price", direction = "fno->crm" },
]
conflict = "{conflict}"
"""


@dataclass(frozen=True)
class Create:
    side: SideName
    key: str
    choices: tuple[int, int, int]


@dataclass(frozen=True)
class Update:
    side: SideName
    key: str
    field: Field
    choice: int


@dataclass(frozen=True)
class Delete:
    side: SideName
    key: str


@dataclass(frozen=True)
class Fault:
    side: SideName
    count: int


@dataclass(frozen=True)
class Idle:
    pass


@dataclass(frozen=True)
class Restart:
    """Stop the replicator if it runs, else start it: edits in between come from the feeds."""


Op = Create | Update | Delete | Fault | Idle | Restart

sides = st.sampled_from(["fno", "crm"])
keys = st.sampled_from(KEYS)
choice = st.integers(0, 3)
fields = st.sampled_from(["name", "state", "price"])
creates = st.builds(Create, sides, keys, st.tuples(choice, choice, choice))
updates = st.builds(Update, sides, keys, fields, choice)
# st.one_of picks its branches about evenly: repeats weigh edits and waits over the rest.
ops = st.one_of(
    *[creates] * 2,
    *[updates] * 4,
    st.builds(Delete, sides, keys),
    st.builds(Fault, sides, st.integers(1, 2)),
    *[st.just(Idle())] * 2,
    st.just(Restart()),
)


@dataclass
class Model:
    """What the applications did: who touched each key, and each side's last values."""

    touched: dict[str, set[SideName]] = field(default_factory=dict)
    last: dict[str, dict[str, Value] | None] = field(default_factory=dict)
    owned: dict[str, Value] = field(default_factory=dict)
    """fno's last price per key not deleted, nor created on crm, since: both must hold it."""
    doomed: dict[str, SideName] = field(default_factory=dict)
    """Keys deleted on one side whose row on ``doomed[key]`` is still there: edits of it
    before the delete is replicated may be lost (the delete wins)."""

    def record(self, side: SideName, key: str, values: dict[str, Value] | None) -> None:
        self.touched.setdefault(key, set()).add(side)
        self.last[key] = values


class Harness:
    """Two memory sides, the applications editing them, and a replicator that comes and goes."""

    def __init__(self, cfg: Path) -> None:
        self.cfg = cfg
        self.sides: dict[SideName, MemorySide] = {
            "fno": MemorySide("fno"),
            "crm": MemorySide("crm"),
        }
        self.model = Model()
        self.stack: AsyncExitStack | None = None
        self.rep: Replicator | None = None

    async def start(self) -> Replicator:
        self.stack = AsyncExitStack()
        rep = Replicator(self.cfg, sides={str(k): v for k, v in self.sides.items()})
        self.rep = await self.stack.enter_async_context(rep)
        return self.rep

    async def stop(self) -> None:
        assert self.stack is not None
        await self.stack.aclose()
        self.stack = self.rep = None

    async def idle(self) -> None:
        assert self.rep is not None
        with anyio.fail_after(IDLE_TIMEOUT_S):
            await self.rep.wait_idle()

    def rows(self, side: SideName, key: str) -> list[tuple[str, dict[str, Any]]]:
        key_field = FIELDS[side]["key"]
        rows = self.sides[side].rows(ENTITY[side]).items()
        return [(nid, values) for nid, values in rows if values.get(key_field) == key]

    async def apply(self, op: Op) -> None:
        if isinstance(op, Idle):
            if self.rep is not None:
                await self.idle()
                self.model.doomed.clear()
        elif isinstance(op, Restart):
            await (self.stop() if self.rep is not None else self.start())
        elif isinstance(op, Fault):
            self.sides[op.side].fail_writes(op.count, "transient")
        else:
            self.edit(op)

    def edit(self, op: Create | Update | Delete) -> None:
        """Apply an application's edit if it makes sense now (no duplicate keys on a side)."""
        side, names, rows = self.sides[op.side], FIELDS[op.side], self.rows(op.side, op.key)
        entity = ENTITY[op.side]
        if isinstance(op, Create):
            if rows:
                return
            values = {f: CHOICES[f][op.side][c] for f, c in zip(CHOICES, op.choices, strict=True)}
            side.insert(entity, {names["key"]: op.key, **{names[f]: v for f, v in values.items()}})
            self.model.record(op.side, op.key, values)
            if op.side == "fno":
                self.model.owned[op.key] = values["price"]
            else:  # a new record, or one crm has not seen yet: its price is no longer fno's
                self.model.owned.pop(op.key, None)
            return
        if not rows:
            return
        nid, current = rows[0]
        if isinstance(op, Delete):
            side.delete(entity, nid)
            self.model.record(op.side, op.key, None)
            self.model.owned.pop(op.key, None)
            other: SideName = "crm" if op.side == "fno" else "fno"
            if self.rows(other, op.key):
                self.model.doomed[op.key] = other
            else:
                self.model.doomed.pop(op.key, None)
            return
        value = CHOICES[op.field][op.side][op.choice]
        side.update(entity, nid, {names[op.field]: value})
        values = {f: current.get(names[f]) for f in CHOICES} | {op.field: value}
        self.model.record(op.side, op.key, values)
        if op.side == "fno" and op.field == "price" and self.model.doomed.get(op.key) != "fno":
            self.model.owned[op.key] = value

    def check_converged(self) -> None:
        """Both sides agree on every key, hold no duplicates, and keep single-side edits."""
        for key in KEYS:
            fno, crm = self.rows("fno", key), self.rows("crm", key)
            assert len(fno) <= 1 and len(crm) <= 1, f"duplicate {key}: {fno} / {crm}"
            assert len(fno) == len(crm), f"{key} on one side only: {fno} / {crm}"
            if fno:
                a, b = fno[0][1], crm[0][1]
                assert b.get("name") == a.get("Name"), (key, a, b)
                state = a.get("State")
                assert b.get("state") == STATE_MAP.get(state or "", state), (key, a, b)
                assert b.get("price") == a.get("Price"), (key, a, b)  # fno owns price
            self.check_single_side(key, fno[0][1] if fno else None)
            self.check_owned(key, fno[0][1] if fno else None)

    def check_single_side(self, key: str, fno_row: dict[str, Any] | None) -> None:
        """A key only one side's applications touched carries that side's last values."""
        touched = self.model.touched.get(key, set())
        if len(touched) != 1:
            return
        (side,) = touched
        last = self.model.last[key]
        if last is None:
            assert fno_row is None, f"{key} deleted on {side} only, but still there"
            return
        assert fno_row is not None, f"{key} lost: last {side} values {last}"
        expected = dict(last)
        if side == "crm":
            expected.pop("price")  # a crm edit of fno's field is reverted: not crm's value
            state = expected["state"]
            expected["state"] = {v: k for k, v in STATE_MAP.items()}.get(state, state)
        for f, value in expected.items():
            assert fno_row.get(FIELDS["fno"][f]) == value, (key, side, f, fno_row, last)

    def check_owned(self, key: str, fno_row: dict[str, Any] | None) -> None:
        """A one-way field holds its owner's last value, whatever the other side wrote."""
        if key not in self.model.owned:
            return
        assert fno_row is not None, f"{key} lost, though not deleted since fno set its price"
        assert fno_row.get("Price") == self.model.owned[key], (key, fno_row, self.model.owned)

    def writes(self) -> tuple[int, int]:
        return self.sides["fno"].writes, self.sides["crm"].writes


async def scenario(steps: Sequence[Op], conflict: str, seed: Sequence[Create] = ()) -> None:
    """Create ``seed`` on fno, start (the initial sync links it), run ``steps``, check."""
    with tempfile.TemporaryDirectory() as tmp:
        harness = Harness(write_config(Path(tmp), CONFIG.replace("{conflict}", conflict)))
        for create in seed:
            harness.edit(create)
        await harness.start()
        try:
            for op in steps:
                await harness.apply(op)
            if harness.rep is None:
                await harness.start()
            await harness.idle()
            harness.check_converged()
            writes = harness.writes()
            await harness.idle()
            assert harness.writes() == writes, "writes after quiescence"
            assert harness.rep is not None
            errors = await harness.rep.ctx.store.errors()
            assert errors == [], errors
        finally:
            if harness.rep is not None:
                await harness.stop()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(ops, max_size=30),
    conflict=st.sampled_from(["fno", "crm", "newest"]),
    seed=st.lists(st.builds(Create, st.just("fno"), keys, st.tuples(choice, choice, choice))),
)
def test_random_edits_on_both_sides_converge(
    steps: list[Op], conflict: str, seed: list[Create]
) -> None:
    """Whatever the interleaving, faults and restarts, both sides end equal and silent."""
    anyio.run(scenario, steps, conflict, seed, backend="asyncio")
