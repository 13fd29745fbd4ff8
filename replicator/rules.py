"""The map rules as pure functions: three-way merge, ownership, create and delete rules,
and what a link is after a write (``after_write``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import msgspec

from .adapter import UNKNOWN_VERSION, Row, Value, Values
from .config import FieldMap, TableMap


class FieldConflict(msgspec.Struct, frozen=True):
    """A field both sides changed since the shadow, and how it was decided."""

    field: str
    base: Value
    values: tuple[Value, Value]
    winner: int


class Merge(msgspec.Struct, frozen=True):
    """The agreed values of a merge, and the conflicts decided on the way."""

    values: Values
    conflicts: list[FieldConflict]


def owner(field: FieldMap) -> int | None:
    """The side that owns a one-way field (its source), or None for a both-ways field."""
    if field.direction == "0->1":
        return 0
    if field.direction == "1->0":
        return 1
    return None


def conflict_winner(m: TableMap, changed_at: Sequence[float | None], source: int) -> int:
    """The side whose value wins a conflict: the map's side, or the newest change."""
    if m.conflict != "newest":
        return int(m.conflict)
    a, b = changed_at
    if a is None or b is None or a == b:
        return source
    return 0 if a > b else 1


def merge_field(
    field: FieldMap, base: Value, vals: tuple[Value, Value], winner: int
) -> tuple[Value, bool]:
    """The agreed value of one field and whether it was a conflict.

    A one-way field takes its owner's value. A both-ways field takes the side that
    changed it since ``base``; when both changed it to different values, ``winner``'s.
    """
    own = owner(field)
    if own is not None:
        return vals[own], False
    a, b = vals
    if a == b:
        return a, False
    if a == base:
        return b, False
    if b == base:
        return a, False
    return vals[winner], True


def merge(m: TableMap, base: Values, vals: tuple[Values, Values], winner: int) -> Merge:
    """Three-way merge of both sides' canonical values against the shadow ``base``."""
    out: Values = {}
    conflicts = []
    for f in m.all_fields:
        pair = (vals[0].get(f.id), vals[1].get(f.id))
        value, conflicted = merge_field(f, base.get(f.id), pair, winner)
        out[f.id] = value
        if conflicted:
            conflicts.append(FieldConflict(f.id, base.get(f.id), pair, winner))
    return Merge(out, conflicts)


class Revert(msgspec.Struct, frozen=True):
    """A one-way field edited on ``side``, which does not own it: set back to ``owned``."""

    field: FieldMap
    side: int
    refused: Value
    owned: Value


def reverted(
    m: TableMap, base: Values, vals: tuple[Values, Values], merged: Values
) -> list[Revert]:
    """The one-way fields a merge sets back on the side that does not own them: those that
    side changed since the shadow ``base`` to something else than the owner's value."""
    out = []
    for f in m.all_fields:
        own = owner(f)
        if own is None or f.id not in base:  # no shadow: nothing says the side edited it
            continue
        value = vals[1 - own].get(f.id)
        if value != base[f.id] and value != merged[f.id]:
            out.append(Revert(f, 1 - own, value, merged[f.id]))
    return out


def initial_merge(m: TableMap, vals: tuple[Values, Values], master: int | None = None) -> Values:
    """The agreed values when both sides hold a key with no shadow: owners, then the master
    (the map's ``initial_master`` unless ``master`` is given)."""
    master = m.initial_master if master is None else master
    out: Values = {}
    for f in m.all_fields:
        own = owner(f)
        side = own if own is not None else master
        value = vals[side].get(f.id)
        out[f.id] = value if value is not None else vals[1 - side].get(f.id)
    return out


def shadow_after_write(shadow: Values, written: Values, other: Values) -> Values:
    """The shadow once one side holds ``written``: fields the other side holds too agree."""
    out = dict(shadow)
    out.update((k, v) for k, v in written.items() if other.get(k) == v)
    return out


class AfterWrite(msgspec.Struct, frozen=True):
    """A link's shadow and versions once one side holds a write (``after_write``)."""

    shadow: Values
    versions: list[str | None]


def after_write(
    shadow: Values,
    side: int,
    written: Values,
    other: Values,
    versions: Sequence[str | None],
    *,
    keep_none: bool = False,
) -> AfterWrite:
    """The link's shadow and versions once ``side`` holds ``written`` and the other side
    ``other``; ``versions``: each side's, the written one's as its write answered (or
    ``UNKNOWN_VERSION`` for an intent: the write is still to be made).

    The shadow takes the written fields the other side holds too (``shadow_after_write``).
    A side keeps its version only if its row holds that shadow; else its version is
    unknown. A link's version of a side says that row holds the shadow: a change of that
    version is taken as applied (``Applier.known_version``) and its values as current
    (``Applier.fresh``). So a row still to be written in the step (a one-way field edited
    there and to be set back, a conflict it lost, a field it lacks) must not keep the
    version it was read at: a crash before that write (recovery commits the intent's
    link), or a step that ends before it, would leave a link under which the replay of
    the very change that called for the write is dropped, or an older change's values
    undo the write made.

    A None version goes unknown like any other in the live pipeline: there it is a row
    whose write was answered with no version, and None would make the next write there
    unconditional, over a row that does not hold the shadow. The initial sync passes
    ``keep_none``: its None is a side with no row yet (an insert still to come, with no
    row to hold the shadow or not), and stays None.
    """
    new = shadow_after_write(shadow, written, other)
    held = (written, other) if side == 0 else (other, written)
    out = [
        v if (keep_none and v is None) or not diff(new, held[i]) else UNKNOWN_VERSION
        for i, v in enumerate(versions)
    ]
    return AfterWrite(new, out)


def relink_merge(m: TableMap, shadow: Values, vals: tuple[Values, Values], winner: int) -> Values:
    """The agreed values of a linked pair met again by an initial sync.

    Fields in the shadow merge three-way, as the live sync would (a side's change since
    the shadow is kept); fields missing from it (a field added to the map, a write whose
    outcome was lost half-way) take the initial sync's rule: owners, then the master.
    """
    known = merge(m, shadow, vals, winner).values
    first = initial_merge(m, vals)
    return {f.id: known[f.id] if f.id in shadow else first[f.id] for f in m.all_fields}


def diff(target: Values, current: Values) -> list[str]:
    """Field ids whose value in ``target`` differs from ``current``."""
    return [k for k, v in target.items() if current.get(k) != v]


def may_create(m: TableMap, side: int) -> bool:
    """Whether a record born on ``side`` may be replicated (the create rule)."""
    return side in m.create


def may_delete(m: TableMap, side: int) -> bool:
    """Whether a delete on ``side`` may be replicated (the delete rule)."""
    return side in m.delete


def in_companies(m: TableMap, values: Values, companies: Collection[str] = ()) -> bool:
    """Whether a record's company takes part: in ``companies`` if given, else the map's."""
    wanted = companies or m.companies
    if not wanted:
        return True
    field = m.company or m.key[0]
    return values.get(field.id) in wanted


def unreadable(m: TableMap, side: int, side_names: Sequence[str], row: Row) -> str:
    """Why a row its side cannot give (``Row.error``) goes to the error queue."""
    return (
        f"side {side_names[side]!r}: entity {m.entities[side]!r}: row {row.native_id}"
        f" cannot be read: {row.error}"
    )


def create_refused(m: TableMap, side: int, side_names: Sequence[str]) -> str:
    """Why a record born on ``side`` is not replicated (the create rule)."""
    allowed = ", ".join(repr(side_names[i]) for i in sorted(m.create)) or "no side"
    return (
        f"created on {side_names[side]!r}, but map {m.name!r} accepts new records "
        f"only from {allowed}"
    )
