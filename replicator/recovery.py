"""Recovery: settle the writes a crash left between the side and the state store.

A write and the commit of its outcome (link, shadow, token) cannot be one transaction:
they are in two systems. So before every write the actor (or the initial sync) commits
an ``Intent``: the write's token and the link as it stands if the write is applied. The
commit of the outcome forgets the intent. An intent still there at start-up is a write
whose outcome was lost: it may have reached the side or not, and a user may have
changed that row since.

The side's change feed tells which. Every write shows up in it carrying its token, in
the order the side made it, after the cursor the store held when the intent was
committed: so it is either journaled already (an echo waits in the journal until the
step that made it is committed) or still in the feed. Recovery reads each such side's
feed into the journal up to now, and looks for the token there:

* found: the write happened. The intent's link is committed (an insert takes its native
  id from the echo), with that side's version unknown (``UNKNOWN_VERSION``), so that
  the next conditional write there meets the current row. (So is the other side's, if
  the step was still to write it: ``rules.after_write``; the replay of the step's change
  then reads that row again instead of taking the change for one applied before.) What a
  user did to the row afterwards is in the journal after the echo and is applied
  against the right shadow, like any other change.
* not found: the write never happened; the link stays as it was committed.

Of one link's intents (a step may write both sides), the newest one found wins: each
was computed knowing the outcome of the writes before it.

A side whose feed carries no tokens (Dataverse: nothing marks a row as written by an
integration) is asked for the row itself instead (``row_shows_write``): an insert
happened if a row with the record's key is there and no other record holds it; an update
happened if the row holds the intended value of at least one field the write changed
(``Intent.written``: the fields whose value the row did not hold when the write was
planned, never one it held already, which would show the write made when it was not).
The one case this cannot tell is a user who, in the moments between our write and the
crash, changed *every* field the write changed: the write is then taken as not made, and
the user's values meet the old shadow, so the map's conflict policy decides between them
and the other side's (logged as a conflict, never silent).

Recovery runs before the initial sync and the live sync; it waits out a side that is
away, since the links it settles are the state both depend on.
"""

from __future__ import annotations

from . import mapping
from .adapter import UNKNOWN_VERSION, Change, Values
from .config import TableMap
from .context import Context
from .errors import RuleViolation
from .model import Commit, Intent, Link
from .pipeline.journal import Intake


async def recover(ctx: Context) -> None:
    """Settle every intent left by a crash (see the module docstring)."""
    intents = await ctx.store.intents()
    if not intents:
        return
    sides = sorted({i.side for i in intents})
    for side in sides:
        await Intake(ctx, side).journal_all()
    echoes = {
        side: await ctx.store.journal_tokens(side, [i.token for i in intents if i.side == side])
        for side in sides
    }
    settled: dict[int, Link] = {}
    written = 0
    for intent in intents:  # oldest first: a link's newest intent found wins
        if getattr(ctx.sides[intent.side], "carries_tokens", True):
            native_id = await echo_of(ctx, intent, echoes[intent.side].get(intent.token, []))
        else:
            native_id = await row_shows_write(ctx, intent)
        if native_id is not None:
            written += 1
            settled[intent.link.id] = settled_link(intent, native_id)
    kept = {i: link for i, link in settled.items() if await unique(ctx, link)}
    commits = [
        Commit(link=kept.get(i), clear_intents=i)
        for i in dict.fromkeys(intent.link.id for intent in intents)
    ]
    await ctx.store.commit(commits)
    ctx.log.warning(
        "recovered",
        intents=len(intents),
        applied=written,
        records=len(commits),
        relinked=len(kept),
    )


async def echo_of(ctx: Context, intent: Intent, changes: list[tuple[str, Change]]) -> str | None:
    """The native id of the row the intent's write made, if its echo is among ``changes``.

    An update's echo is a change of the row it wrote. An insert's is the upsert of a new
    row of the map's entity: the one with the link's key, else the only one not linked
    to another record (other rows the write's transaction touched, e.g. by a trigger,
    carry the token too; the new row may have been renamed or deleted since).
    """
    link, side = intent.link, intent.side
    m = ctx.maps.get(link.map)
    if m is None:  # the map left the config since: nothing of it is replicated any more
        return None
    ours = [c for map_name, c in changes if map_name == link.map and c.op == "upsert"]
    if link.ids[side] is not None:
        return link.ids[side] if any(c.native_id == link.ids[side] for c in ours) else None
    keyed = [c for c in ours if c.values is not None and key_of(m, side, c.values) == link.key]
    if keyed:
        return keyed[0].native_id
    new = {
        c.native_id
        for c in ours
        if await ctx.store.link_by_native(link.map, side, c.native_id) is None
    }
    return next(iter(new)) if len(new) == 1 else None


async def row_shows_write(ctx: Context, intent: Intent) -> str | None:
    """The native id of the row the intent's write made, judged by the row as it is now
    (a side whose feed carries no tokens; see the module docstring)."""
    link, side = intent.link, intent.side
    m = ctx.maps.get(link.map)
    if m is None:
        return None
    entity = m.entities[side]
    if link.ids[side] is None:
        key = mapping.side_key(m, side, tuple(mapping.decode_key(link.key)))
        found = await ctx.sides[side].find(entity, m.key_names(side), [key])
        row = next(iter(found.values()), None)
        taken = row and await ctx.store.link_by_native(link.map, side, row.native_id)
        return row.native_id if row is not None and not taken else None
    native_id = str(link.ids[side])
    row = (await ctx.sides[side].get(entity, [native_id])).get(native_id)
    if row is None or row.error is not None:
        return None
    try:
        now = mapping.canonical(m, side, row.values)
    except RuleViolation:
        return None
    written = intent.written if intent.written is not None else await shadow_changes(ctx, link)
    return native_id if any(now.get(f) == v for f, v in written.items()) else None


async def shadow_changes(ctx: Context, link: Link) -> Values:
    """What an intent an older release committed (no ``Intent.written``) is taken to
    write: the fields its link's shadow changes. That over-counts a field the row held
    already (all of them for a pair the initial sync had not linked)."""
    before = await ctx.store.link(link.id)
    old = before.shadow if before is not None else {}
    return {f: v for f, v in link.shadow.items() if old.get(f) != v}


def key_of(m: TableMap, side: int, values: Values) -> str | None:
    try:
        return mapping.encode_key(mapping.key_of(m, mapping.canonical(m, side, values)))
    except RuleViolation:
        return None


def settled_link(intent: Intent, native_id: str) -> Link:
    """The intent's link, its write made: the row's id taken, its version unknown."""
    link = intent.link
    link.ids[intent.side] = native_id
    link.versions[intent.side] = UNKNOWN_VERSION
    return link


async def unique(ctx: Context, link: Link) -> bool:
    """Whether no other link holds one of the link's rows (it would be replaced)."""
    for side, native_id in enumerate(link.ids):
        other = (
            None if native_id is None else await ctx.store.link_by_native(link.map, side, native_id)
        )
        if other is not None and other.id != link.id:
            ctx.log.error(
                "recovery_conflict",
                map=link.map,
                key=link.key,
                side=ctx.side_names[side],
                native_id=native_id,
                linked_to=other.key,
                action="the intent's link is not restored; the replay links the record",
            )
            return False
    return True
