"""Recovery: settle the writes a crash left between the side and the state store.

A write and the commit of its outcome (link, shadow, token) cannot be one transaction:
they are in two systems. So before every write the actor (or the initial sync) commits
an ``Intent``: the write's token and the link as it stands if the write is applied. The
commit of the outcome forgets the intent. An intent still there at start-up is a write
whose outcome was lost: it may have reached the side or not, and a user may have
changed that row since.

The side's change feed tells which. Every write shows up in it carrying its token, in
the order the side made it, after the cursor the store held when the intent was
committed. So recovery reads each such side's feed into the journal up to now, and
looks for the token there:

* found: the write happened. The intent's link is committed (an insert takes its native
  id from the echo), with that side's version unknown, so that the next write there
  reads the row first. What a user did to the row afterwards is in the journal after
  the echo and is applied against the right shadow, like any other change.
* not found: the write never happened; the link stays as it was committed.

Of one link's intents (a step may write both sides), the newest one found wins: each
was computed knowing the outcome of the writes before it.

Recovery runs before the initial sync and the live sync; it waits out a side that is
away, since the links it settles are the state both depend on.
"""

from __future__ import annotations

import time

import anyio

from .context import Context
from .errors import PermanentError, SchemaError, TransientError
from .journal import journal_batch
from .model import Commit, Intent, Link

MAX_BACKOFF_S = 10.0


async def recover(ctx: Context) -> None:
    """Settle every intent left by a crash (see the module docstring)."""
    intents = await ctx.store.intents()
    if not intents:
        return
    sides = sorted({i.side for i in intents})
    for side in sides:
        await read_feed(ctx, side)
    found = {
        side: await ctx.store.journal_tokens(side, [i.token for i in intents if i.side == side])
        for side in sides
    }
    settled = settle(intents, found)
    commits = [
        Commit(link=settled.get(link_id), clear_intents=link_id) for link_id in links(intents)
    ]
    await ctx.store.commit(commits)
    ctx.log.warning(
        "recovered",
        intents=len(intents),
        applied=sum(i.token in found[i.side] for i in intents),
        links=len(commits),
        relinked=len(settled),
    )


def links(intents: list[Intent]) -> list[int]:
    return list(dict.fromkeys(i.link.id for i in intents))


def settle(intents: list[Intent], found: dict[int, dict[str, str]]) -> dict[int, Link]:
    """Per link id, the link of its newest intent whose write happened (if any)."""
    out: dict[int, Link] = {}
    for intent in intents:
        native_id = found[intent.side].get(intent.token)
        if native_id is None:
            continue
        link = intent.link
        if link.ids[intent.side] is None:
            link.ids[intent.side] = native_id
        link.versions[intent.side] = None
        out[link.id] = link
    return out


async def read_feed(ctx: Context, side: int) -> None:
    """Journal everything ``side`` has reported so far; wait while it is unreachable."""
    cursor = await ctx.store.cursor(side)
    failures = 0
    while True:
        try:
            read = await journal_batch(ctx, side, cursor)
        except (TransientError, PermanentError, SchemaError) as exc:
            failures += 1
            if failures == 1:
                ctx.read_down[side] = ctx.read_down.get(side) or time.time()
                ctx.log.error("side_down", side=ctx.side_names[side], reason=str(exc))
            await anyio.sleep(min(MAX_BACKOFF_S, 0.1 * 2 ** min(failures, 10)))
            continue
        if failures:
            ctx.read_down.pop(side, None)
            ctx.log.warning("side_up", side=ctx.side_names[side])
            failures = 0
        if read is None:
            return
        cursor = read[1]
