"""Reading one map's rows for its initial sync, a page at a time (map_sync.py drives it).

``SyncReader`` follows a side's scan by its page tokens, turns each page's rows into
canonical values by integration key, and looks rows up on a side by key (one batched
``find`` per page) or by native id (one ``get``). It keeps nothing between pages: what
the sync knows of the pages before is in the state store, as the links it committed.

A row of a page that is unreadable, breaks a rule, lacks its key or repeats a key met
earlier in the page goes to the error queue through the sink (the sync's ``SyncWrites``,
writes.py, which commits it with the page's writes). A row found
by key or by id that is not fit to sync is simply not found: the scan of its own side
queues it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from .. import mapping, rules
from ..adapter import Row, Side
from ..config import TableMap
from ..context import Context
from ..errors import RuleViolation
from .writes import Scanned

Key = tuple[Any, ...]


async def scan_pages(side: Side, entity: str, limit: int) -> AsyncIterator[list[Row]]:
    """Every row of ``entity`` on ``side`` (passing its filter), a page at a time, following
    the side's page tokens; empty pages are skipped. The initial sync and reconciliation
    (reconcile.py) both read a table this way."""
    page: str | None = None
    while True:
        found = await side.scan(entity, page, limit)
        if found.rows:
            yield found.rows
        if found.next is None:
            return
        page = found.next


class ErrorSink(Protocol):
    """Where rows that cannot be synced go: the error queue (``SyncWrites`` in writes.py)."""

    def error(self, side: int, row: Row, kind: str, reason: str, key: str = "") -> None: ...
    def unexpected(self, side: int, row: Row, exc: Exception, key: str | None) -> None: ...


class SyncReader:
    """Pages, keyed rows and look-ups of one map for its initial sync."""

    def __init__(
        self, ctx: Context, m: TableMap, companies: Collection[str], sink: ErrorSink
    ) -> None:
        self.ctx = ctx
        self.map = m
        self.companies = companies
        self.sink = sink

    def pages(self, side: int, limit: int) -> AsyncIterator[list[Row]]:
        """Every row of the map's entity on ``side``, a page at a time."""
        return scan_pages(self.ctx.sides[side], self.map.entities[side], limit)

    def keyed(self, side: int, rows: Iterable[Row]) -> dict[Key, Scanned]:
        """A page's rows by key; the rows that cannot be synced go to the error queue."""
        out: dict[Key, Scanned] = {}
        for row in rows:
            try:
                self.add(side, row, out)
            except Exception as exc:  # a bug met by this row alone: queue it, go on
                self.sink.unexpected(side, row, exc, None)
        return out

    def add(self, side: int, row: Row, out: dict[Key, Scanned]) -> None:
        if row.error is not None:
            reason = rules.unreadable(self.map, side, self.ctx.side_names, row)
            return self.sink.error(side, row, "unreadable", reason, self.readable_key(side, row))
        try:
            values = mapping.canonical(self.map, side, row.values)
        except RuleViolation as exc:
            return self.sink.error(side, row, "rule", str(exc))
        missing = mapping.missing_key_fields(self.map, side, values)
        if missing:
            return self.sink.error(side, row, "rule", f"integration key field(s) {missing} empty")
        if not rules.in_companies(self.map, values, self.companies):
            return None
        key = mapping.key_of(self.map, values)
        if key in out:
            return self.duplicate(side, row, key, out[key].row.native_id)
        out[key] = Scanned(row, values)

    def duplicate(self, side: int, row: Row, key: Key, other: str) -> None:
        """Queue ``row``: row ``other`` of its side holds its key already."""
        encoded = mapping.encode_key(key)
        where = f"on side {self.ctx.side_names[side]!r}"
        reason = f"duplicate key {encoded} {where}: also row {other}"
        self.sink.error(side, row, "duplicate", reason)

    def readable_key(self, side: int, row: Row) -> str:
        """The encoded key of a row that is partly unreadable, if its key fields are read."""
        try:
            values = mapping.canonical(self.map, side, row.values)
        except RuleViolation:
            return ""
        if mapping.missing_key_fields(self.map, side, values):
            return ""
        return mapping.encode_key(mapping.key_of(self.map, values))

    def fit(self, side: int, row: Row) -> Scanned | None:
        """A row found by key or id as the sync would scan it; None if it is not to sync."""
        if row.error is not None:
            return None
        try:
            values = mapping.canonical(self.map, side, row.values)
        except RuleViolation:
            return None
        if mapping.missing_key_fields(self.map, side, values):
            return None
        if not rules.in_companies(self.map, values, self.companies):
            return None
        return Scanned(row, values)

    async def partners(self, side: int, keys: Collection[Key]) -> dict[Key, Scanned]:
        """The rows of ``keys`` on ``side`` (one ``find``), fit to sync."""
        asked = []
        for key in keys:
            try:
                asked.append(mapping.side_key(self.map, side, key))
            except RuleViolation:  # no row of that side can hold this key
                continue
        if not asked:
            return {}
        entity, fields = self.map.entities[side], self.map.key_names(side)
        found = await self.ctx.sides[side].find(entity, fields, asked)
        return self.matching(side, found.values(), keys)

    def matching(self, side: int, rows: Iterable[Row], keys: Collection[Key]) -> dict[Key, Scanned]:
        out: dict[Key, Scanned] = {}
        for row in rows:
            scanned = self.fit(side, row)
            if scanned is not None and (key := mapping.key_of(self.map, scanned.values)) in keys:
                out.setdefault(key, scanned)
        return out

    async def holding(self, side: int, wanted: Mapping[str, Key]) -> set[str]:
        """Which of the native ids in ``wanted`` name a row of ``side`` that holds its key
        now (one ``get``)."""
        if not wanted:
            return set()
        found = await self.ctx.sides[side].get(self.map.entities[side], list(wanted))
        held = set()
        for native_id, row in found.items():
            scanned = self.fit(side, row)
            if scanned is not None and mapping.key_of(self.map, scanned.values) == wanted.get(
                native_id
            ):
                held.add(native_id)
        return held


def native_ids(rows: Iterable[Scanned | None]) -> Sequence[str]:
    return [s.row.native_id for s in rows if s is not None]
