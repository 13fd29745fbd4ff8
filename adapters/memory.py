"""An in-memory side: the reference implementation of the adapter protocol.

It is the test double for the core (like httpx's ``MockTransport``) and usable from
embedding code. Applications change it through ``insert``/``update``/``delete``
(their changes carry no token); the replicator writes through ``write``. Faults can
be injected: ``fail_writes(n, "transient" | "permanent")`` fails the next ``n``
write items, ``down = True`` makes every call raise ``TransientError`` (an outage),
``spoil`` makes a row unreadable (``Row.error``) until it is next written, and
``lose_table`` empties a table the way a dropped and re-created one is (a ``reset``).
``reuse_ids = True`` breaks the native-id rule the way a plain SQLite rowid does: a new
row gets the largest id in use plus one, so the newest row's id, once deleted, is given
to the next row (for tests of the core's defences against such a side).
``lose_changes(probability, seed)`` makes the feed lossy, as F&O's data events are: each
change is dropped from it with that probability (1.0: every one, 0: none again);
``deliver_lost`` delivers what it dropped after all, late; and
``reconcile_minutes`` (an option, or the constructor's argument) asks for periodic
reconciliation passes over its rows, which recover what the feed lost (reconcile.py).

Filters are simple equality conditions joined by AND: ``PartyType = 'Organization'``.
"""

from __future__ import annotations

import itertools
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import msgspec

from replicator.adapter import (
    Change,
    ChangeBatch,
    EntitySpec,
    Row,
    ScanPage,
    Value,
    Values,
    WriteOp,
    WriteResult,
)
from replicator.errors import ConfigError, SchemaError, TransientError

_CONDITION = re.compile(r"^\s*(\w+)\s*=\s*(?:'([^']*)'|(-?\d+(?:\.\d+)?))\s*$")


class _Stored(msgspec.Struct):
    values: Values
    version: int
    changed_at: float
    error: str | None = None


def parse_filter(text: str | None) -> Callable[[Values], bool]:
    """A predicate for a filter of ``field = 'text'`` / ``field = 12`` joined by AND."""
    if not text:
        return lambda values: True
    wanted: dict[str, Value] = {}
    for part in re.split(r"\s+AND\s+", text, flags=re.IGNORECASE):
        m = _CONDITION.match(part)
        if m is None:
            raise ConfigError(
                [
                    f"memory filter {text!r}: cannot read {part!r} "
                    "(use field = 'value' joined by AND)"
                ]
            )
        number = m.group(3)
        wanted[m.group(1)] = (
            m.group(2) if number is None else (float(number) if "." in number else int(number))
        )
    return lambda values: all(values.get(k) == v for k, v in wanted.items())


class MemorySide:
    """A side whose tables live in a dict. See the module docstring."""

    def __init__(
        self,
        name: str,
        tables: Sequence[str] = (),
        *,
        reuse_ids: bool = False,
        tokens: bool = True,
        native_lookups: bool = False,
        reconcile_minutes: float | None = None,
    ) -> None:
        self.name = name
        self.reconcile_minutes = reconcile_minutes
        self.reuse_ids = reuse_ids
        self.carries_tokens = tokens
        """``tokens=False`` plays a side like Dataverse: its feed never carries tokens."""
        self.lookups_hold_native_ids = native_lookups
        """``native_lookups=True``: lookup columns hold the referenced row's native id."""
        self.tables: dict[str, dict[str, _Stored]] = {t: {} for t in tables}
        self.feed: list[Change] = []
        self.first_seq = 0
        self.down = False
        self.writes = 0
        self.write_calls = 0
        self._faults: list[tuple[str, str]] = []
        self._filters: dict[str, Callable[[Values], bool]] = {}
        self._ids = itertools.count(1)
        self._versions = itertools.count(1)
        self._changed = anyio.Event()
        self._read_to = 0
        self._indexes: dict[tuple[str, tuple[str, ...]], dict[tuple[Value, ...], set[str]]] = {}
        self._loss = 0.0
        self._loss_rng = random.Random(0)
        self.lost: list[Change] = []
        """The changes the feed dropped (``lose_changes``), for ``deliver_lost``."""

    # -- the application's side: plain edits, no token ------------------------------

    def insert(self, entity: str, values: Values, native_id: str | None = None) -> str:
        """Create a row as an application would; returns its native id."""
        nid = native_id or self._new_id(entity)
        self._put(entity, nid, dict(values), None)
        return nid

    def update(self, entity: str, native_id: str, values: Values) -> None:
        """Change some fields of a row as an application would."""
        row = self.tables[entity][native_id]
        self._put(entity, native_id, {**row.values, **values}, None)

    def delete(self, entity: str, native_id: str) -> None:
        """Delete a row as an application would."""
        self._remove(entity, native_id, None)

    def replace(self, entity: str, native_id: str, values: Values) -> str:
        """Replace a row by a new row with a new id, the old one gone with no delete in the
        feed (as SQLite's ``INSERT OR REPLACE`` does); returns the new native id."""
        old = self.tables[entity].pop(native_id)
        self._reindex(entity, native_id, old.values, None)
        return self.insert(entity, values)

    def spoil(self, entity: str, native_id: str, error: str) -> None:
        """Make a row unreadable, as an application writing bad bytes would."""
        self._put(entity, native_id, self.tables[entity][native_id].values, None, error)

    def lose_table(self, entity: str) -> None:
        """Drop every row of ``entity`` without a delete each (a re-created table)."""
        for nid, old in list(self.tables.get(entity, {}).items()):
            self._reindex(entity, nid, old.values, None)
        self.tables[entity] = {}
        self._emit(Change(entity, "", "reset"))

    def rows(self, entity: str) -> dict[str, Values]:
        """All rows of ``entity`` by native id (copies)."""
        return {nid: dict(r.values) for nid, r in self.tables.get(entity, {}).items()}

    def lose_changes(self, probability: float = 1.0, seed: int = 0) -> None:
        """Drop each change from now on from the feed with ``probability`` (the row itself
        changes as usual), as a lossy event feed does; ``lose_changes(0)`` stops it."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"a loss probability is between 0 and 1, not {probability!r}")
        self._loss = probability
        self._loss_rng = random.Random(seed)

    def deliver_lost(self) -> None:
        """Put the changes the feed dropped into it after all, late (a late event)."""
        lost, self.lost = self.lost, []
        for change in lost:
            self._emit(change)

    def fail_writes(self, count: int, kind: str = "transient", reason: str = "injected") -> None:
        """Fail the next ``count`` write items with a ``kind`` ("transient"/"permanent")."""
        self._faults.extend([(kind, reason)] * count)

    # -- the protocol ---------------------------------------------------------------

    async def open(self) -> None:
        self._check_up()

    async def close(self) -> None:
        return None

    def reconcile_interval_s(self) -> float | None:
        """How often reconciliation passes run over this side (``reconcile_minutes``)."""
        return None if self.reconcile_minutes is None else self.reconcile_minutes * 60.0

    async def exists(self, entity: str, native_ids: Sequence[str]) -> set[str]:
        """Which of ``native_ids`` name a row of ``entity``, passing its filter or not."""
        self._check_up()
        table = self.tables.get(entity, {})
        return {nid for nid in native_ids if nid in table}

    async def check(self, entities: Sequence[EntitySpec]) -> None:
        self._check_up()
        for spec in entities:
            if not spec.fields:
                raise SchemaError(f"side {self.name!r}: entity {spec.entity!r} maps no field")
            parse_filter(spec.filter)

    async def prepare(self, entities: Sequence[EntitySpec]) -> None:
        await self.check(entities)
        for spec in entities:
            self.tables.setdefault(spec.entity, {})
            self._filters[spec.entity] = parse_filter(spec.filter)

    async def read_changes(self, cursor: str | None, limit: int) -> ChangeBatch:
        self._check_up()
        start = max(int(cursor or 0), self.first_seq) - self.first_seq
        window = self.feed[start : start + limit]
        changes = [self._now(c) for c in window]
        end = self.first_seq + start + len(window)
        self._read_to = self.first_seq + len(self.feed)
        return ChangeBatch(changes, str(end) if window or cursor else cursor)

    async def head_cursor(self) -> str | None:
        self._check_up()
        return str(self.first_seq + len(self.feed))

    async def ack(self, cursor: str) -> None:
        drop = int(cursor) - self.first_seq
        if drop > 0:
            del self.feed[:drop]
            self.first_seq += drop

    async def wait_for_changes(self, max_wait: float) -> None:
        if self.first_seq + len(self.feed) > self._read_to:
            return  # changes arrived since the last read
        with anyio.move_on_after(max_wait):
            await self._changed.wait()

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        self._check_up()
        table = self.tables.get(entity, {})
        rows = {nid: self._row(nid, table[nid]) for nid in native_ids if nid in table}
        return {nid: r for nid, r in rows.items() if self._passes(entity, r.values)}

    async def find(
        self, entity: str, key_fields: Sequence[str], keys: Sequence[tuple[Value, ...]]
    ) -> dict[tuple[Value, ...], Row]:
        self._check_up()
        index = self._index(entity, tuple(key_fields))
        table = self.tables.get(entity, {})
        found: dict[tuple[Value, ...], Row] = {}
        for key in keys:
            for nid in sorted(index.get(key, ()), key=_order):
                if self._passes(entity, table[nid].values):
                    found.setdefault(key, self._row(nid, table[nid]))
        return found

    async def scan(self, entity: str, page: str | None, limit: int) -> ScanPage:
        """Rows in native id order; the token is the last native id of the page."""
        self._check_up()
        table = self.tables.get(entity, {})
        after = None if page is None else _order(page)
        ids = sorted((n for n in table if after is None or _order(n) > after), key=_order)
        rows = (self._row(nid, table[nid]) for nid in ids)
        kept = list(
            itertools.islice((r for r in rows if self._passes(entity, r.values)), limit + 1)
        )
        more = len(kept) > limit
        return ScanPage(rows=kept[:limit], next=kept[limit - 1].native_id if more else None)

    async def present_values(
        self, spec: EntitySpec, field: str, values: Sequence[Value]
    ) -> set[Value]:
        self._check_up()
        passes, wanted = parse_filter(spec.filter), set(values)
        rows = self.rows(spec.entity).values()
        return {v.get(field) for v in rows if v.get(field) in wanted and passes(v)}

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self._check_up()
        self.write_calls += 1
        return [self._write_one(op) for op in ops]

    # -- internals ------------------------------------------------------------------

    def _check_up(self) -> None:
        if self.down:
            raise TransientError(f"side {self.name!r} is down (memory outage fault)")

    def _passes(self, entity: str, values: Values) -> bool:
        return self._filters.get(entity, parse_filter(None))(values)

    def _row(self, nid: str, stored: _Stored) -> Row:
        return Row(nid, str(stored.version), dict(stored.values), stored.changed_at, stored.error)

    def _now(self, change: Change) -> Change:
        stored = self.tables.get(change.entity, {}).get(change.native_id)
        if change.op != "upsert" or stored is None or stored.error is not None:
            return change
        if not self._passes(change.entity, stored.values):
            return change  # outside the filter: no values, the core reads (and skips) it
        return msgspec.structs.replace(
            change,
            values=dict(stored.values),
            version=str(stored.version),
            changed_at=stored.changed_at,
        )

    def _index(self, entity: str, fields: tuple[str, ...]) -> dict[tuple[Value, ...], set[str]]:
        """Native ids by the values of ``fields``, kept up to date by every write."""
        index = self._indexes.get((entity, fields))
        if index is None:
            index = self._indexes[(entity, fields)] = {}
            for nid, stored in self.tables.get(entity, {}).items():
                index.setdefault(tuple(stored.values.get(f) for f in fields), set()).add(nid)
        return index

    def _reindex(self, entity: str, nid: str, old: Values | None, new: Values | None) -> None:
        for (ent, fields), index in self._indexes.items():
            if ent != entity:
                continue
            if old is not None:
                index.get(tuple(old.get(f) for f in fields), set()).discard(nid)
            if new is not None:
                index.setdefault(tuple(new.get(f) for f in fields), set()).add(nid)

    def _new_id(self, entity: str) -> str:
        if not self.reuse_ids:
            return str(next(self._ids))
        return str(max((int(n) for n in self.tables.get(entity, {}) if n.isdigit()), default=0) + 1)

    def _put(
        self, entity: str, nid: str, values: Values, token: str | None, error: str | None = None
    ) -> _Stored:
        stored = _Stored(values, next(self._versions), time.time(), error)
        table = self.tables.setdefault(entity, {})
        old = table.get(nid)
        self._reindex(entity, nid, None if old is None else old.values, values)
        table[nid] = stored
        kept = token if self.carries_tokens else None
        self._emit(Change(entity, nid, "upsert", kept, version=str(stored.version)))
        return stored

    def _remove(self, entity: str, nid: str, token: str | None) -> None:
        old = self.tables[entity].pop(nid)
        self._reindex(entity, nid, old.values, None)
        self._emit(Change(entity, nid, "delete", token if self.carries_tokens else None))

    def _emit(self, change: Change) -> None:
        if change.op != "reset" and self._loss and self._loss_rng.random() < self._loss:
            self.lost.append(change)
            return
        self.feed.append(change)
        self._changed.set()
        self._changed = anyio.Event()

    def _write_one(self, op: WriteOp) -> WriteResult:
        if self._faults:
            kind, reason = self._faults.pop(0)
            return WriteResult(
                "transient" if kind == "transient" else "permanent",
                reason=f"{reason} ({kind} fault on side {self.name!r})",
            )
        table = self.tables.setdefault(op.entity, {})
        current = table.get(op.native_id) if op.native_id else None
        if op.op == "insert":
            return self._insert(op, table)
        if current is None and op.op == "delete":
            return WriteResult("applied", native_id=op.native_id)  # gone already: idempotent
        if current is None:
            return WriteResult("conflict", reason="row does not exist")
        if op.expected_version is not None and str(current.version) != op.expected_version:
            return WriteResult(
                "conflict", current=self._row(op.native_id or "", current), reason="version changed"
            )
        self.writes += 1
        if op.op == "delete":
            self._remove(op.entity, op.native_id or "", op.token)
            return WriteResult("applied", native_id=op.native_id)
        stored = self._put(op.entity, op.native_id or "", {**current.values, **op.values}, op.token)
        return WriteResult("applied", native_id=op.native_id, version=str(stored.version))

    def _insert(self, op: WriteOp, table: dict[str, _Stored]) -> WriteResult:
        if op.key_fields:
            key = tuple(op.values.get(f) for f in op.key_fields)
            for nid in sorted(self._index(op.entity, op.key_fields).get(key, ()), key=_order):
                return WriteResult(
                    "conflict",
                    current=self._row(nid, table[nid]),
                    reason="a row with this key exists",
                )
        self.writes += 1
        nid = self._new_id(op.entity)
        stored = self._put(op.entity, nid, dict(op.values), op.token)
        return WriteResult("applied", native_id=nid, version=str(stored.version))


def _order(native_id: str) -> tuple[int, str]:
    return (int(native_id), "") if native_id.isdigit() else (1 << 62, native_id)


_REGISTRY: dict[str, MemorySide] = {}


def create_side(name: str, options: dict[str, Any], base_dir: Path) -> MemorySide:
    """Build a memory side. ``instance = "x"`` shares one side between configs in a process."""
    if problems := check_options(name, options):
        raise ConfigError([f"side {name!r}: {p}" for p in problems])
    instance = options.get("instance")
    minutes = options.get("reconcile_minutes")
    side = (
        MemorySide(name)
        if instance is None
        else _REGISTRY.setdefault(str(instance), MemorySide(name))
    )
    if minutes is not None:
        side.reconcile_minutes = float(minutes)
    return side


OPTIONS = ("instance", "reconcile_minutes")


def check_options(name: str, options: Mapping[str, Any]) -> list[str]:
    """Each problem with a side's options (the adapter protocol's ``check_options``)."""
    problems = [
        f"unknown option {key!r} for the memory adapter (known: {', '.join(OPTIONS)})"
        for key in options
        if key not in OPTIONS
    ]
    minutes = options.get("reconcile_minutes")
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0
    ):
        problems.append(f"reconcile_minutes: expected a number of minutes above 0, got {minutes!r}")
    return problems
