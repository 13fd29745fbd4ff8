"""The router's batch lookups: the keys and links of a dispatch's unlinked rows at once.

A change of a row not linked by native id is routed by its integration key: the router
needs the row's key (from the change's values, or the row read from its side) and the
link holding that key, if any. ``lookup`` finds both for a whole dispatch: one side read
per map and side (only for changes that came without values) and one state-store query
per map by key, instead of up to three round trips per change (which capped inserts at
about 500/s). The router uses what it found unless an actor that ended since may have
stored a link for the key (``Router.resolve``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import mapping
from ..adapter import Row, Values
from ..context import Context
from ..errors import RuleViolation, StoreError
from ..model import JournalEntry, Link


class Found:
    """What ``lookup`` found for a dispatch's unlinked rows, by journal entry id."""

    def __init__(self) -> None:
        self.keys: dict[int, str | None] = {}
        """The encoded key (a unique stand-in if unreadable); None: the row is gone."""
        self.failed: dict[int, Exception] = {}
        """Entries whose row could not be read (the router retries or queues them)."""
        self.links: dict[tuple[str, str], Link] = {}
        """The stored links of the keys found, by (map, key)."""


async def lookup(ctx: Context, entries: Sequence[JournalEntry]) -> Found:
    """The keys of ``entries`` (changes of rows not linked) and the links of those keys."""
    found = Found()
    wanted = [e for e in entries if e.change.op != "delete"]
    rows = await _read(ctx, [e for e in wanted if e.change.values is None], found)
    by_map: dict[str, set[str]] = {}
    for e in wanted:
        if e.id in found.failed:
            continue
        try:
            key = found.keys[e.id] = _key(ctx, e, rows)
        except Exception as exc:  # a bug met by this row alone: the router queues it
            found.failed[e.id] = exc
            continue
        if key is not None and not key.startswith("!"):
            by_map.setdefault(e.map, set()).add(key)
    for map_name, keys in by_map.items():
        links = await ctx.store.links_by_key(map_name, sorted(keys))
        found.links.update({(map_name, key): link for key, link in links.items()})
    return found


async def _read(
    ctx: Context, entries: list[JournalEntry], found: Found
) -> dict[tuple[int, str], Row]:
    """The rows of changes that came without values, one side read per map and side."""
    groups: dict[tuple[str, int], list[JournalEntry]] = {}
    for e in entries:
        groups.setdefault((e.map, e.side), []).append(e)
    rows: dict[tuple[int, str], Row] = {}
    for (map_name, side), group in groups.items():
        entity = ctx.map(map_name).entities[side]
        try:
            got = await ctx.sides[side].get(entity, sorted({e.change.native_id for e in group}))
        except StoreError:
            raise
        except Exception as exc:  # each change of the group is retried or queued
            found.failed.update({e.id: exc for e in group})
            continue
        rows.update({(side, native_id): row for native_id, row in got.items()})
    return rows


def _key(ctx: Context, entry: JournalEntry, rows: dict[tuple[int, str], Row]) -> str | None:
    """The encoded integration key of an unlinked row; a unique stand-in if unreadable."""
    change = entry.change
    stand_in = f"!{entry.side}:{change.native_id}"
    values: Values | None = change.values
    if values is None:
        row = rows.get((entry.side, change.native_id))
        if row is None:
            return None
        if row.error is not None:  # its actor queues the error
            return stand_in
        values = row.values
    m = ctx.map(entry.map)
    try:
        canonical = mapping.canonical(m, entry.side, values)
    except RuleViolation:
        return stand_in
    return mapping.encode_key(mapping.key_of(m, canonical))
