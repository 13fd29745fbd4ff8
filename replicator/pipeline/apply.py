"""How one change of a record is applied: echo, delete, new record, or reconcile.

* an echo of our own write (its token is the link's last token for that side) is dropped;
* a delete follows the delete rule, unless the side still holds the record's row under
  that id (the delete is then of an earlier row the side gave the same id: ``stale_delete``);
* a row not linked yet is matched by integration key on the other side, or created
  there if the create rule allows its side (else it goes to the error queue); a row
  another record is still linked to is not taken (``native_id_taken``): the record
  waits, retrying, for that one's delete (the store refuses such a link, too);
* a row of a linked record's key under another id is a duplicate, unless the linked row is
  gone with no delete in the feed (a ``REPLACE``): the record then takes the new row;
* a linked row is reconciled: a three-way merge of both sides against the shadow,
  written back with conditional writes (see ``Applier.reconcile``; the two rows it
  merges, and the link each write leaves, are a ``Pair``: pair.py).

``Applier`` holds the record's link and these steps; the ``RecordActor`` (actor.py) that
owns the record holds one and adds the lifecycle around it: the mailbox, retries, commits
and logs.

A step ends with a ``Decision`` (its outcome, and why), a value handed back up: a method
that may end the step returns one, else ``None`` to go on (or, if it computes something,
that value: ``Values | Decision``, ``Row | Decision``; ``write_side`` answers whether it
wrote, None meaning "merge again"), and its caller returns it on.
Only real errors are raised: a ``TransientError`` (the actor retries), or any other
exception (the actor queues the record, or stops the engine on a ``StoreError``).
"""

from __future__ import annotations

import time

import msgspec

from .. import lookups, mapping, rules
from ..adapter import UNKNOWN_VERSION, Change, Row, Value, Values, WriteOp, WriteResult
from ..config import TableMap
from ..context import Context
from ..errors import RuleViolation, TransientError
from ..model import Commit, Intent, JournalEntry, Link, Outcome, Parked
from .pair import Pair

MAX_CONFLICT_ROUNDS = 8


class Decision(msgspec.Struct, frozen=True):
    """How the handling of one change ended: its outcome, the reason (if any) and, for
    one that queues the record (``rejected``, ``error``), the error queue's kind.

    Built positionally, like ``Row`` and ``WriteOp``: three fields, never stored."""

    outcome: Outcome
    reason: str = ""
    kind: str = ""


class Applier:
    """One record's link and the steps that apply a change to it; see the module docstring.

    The record's actor (actor.py) holds one for its life and drives it a change at a time;
    ``begin`` starts each try at a change.
    """

    def __init__(
        self,
        ctx: Context,
        m: TableMap,
        link_id: int,
        link: Link | None,
        writing: dict[str, tuple[int, str]],
    ) -> None:
        self.ctx = ctx
        self.map = m
        self.link_id = link_id
        self.link = link
        self.deleted_key: str | None = None
        self.writing = writing
        """The running actors' write tokens (actors.py): ours are registered before each write."""
        self.tokens: list[str] = []
        """The tokens of the writes this record's actor made (their echoes are routed to it)."""
        self.intended = False
        """Whether intents of this step are in the store (the step's commit forgets them)."""
        self.change_id = 0
        self.waiting_for: list[lookups.Reference] = []
        self.read: Row | None = None
        """The changed row, as ``current`` found it."""

    def begin(self, entry: JournalEntry) -> None:
        """A new try at ``entry``: nothing waited for or read yet."""
        self.change_id = entry.id
        self.waiting_for = []
        self.read = None

    @property
    def key(self) -> str | None:
        return self.link.key if self.link else None

    def side_name(self, side: int) -> str:
        return self.ctx.side_names[side]

    def entry_key(self, entry: JournalEntry) -> str | None:
        """The encoded key of the change's values, or of its row as read (a retry's change
        carries no values), if either is known."""
        values = entry.change.values
        read = self.read
        if values is None and read is not None and read.native_id == entry.change.native_id:
            values = read.values
        if values is None:
            return None
        try:
            return mapping.encode_key(
                mapping.key_of(self.map, mapping.canonical(self.map, entry.side, values))
            )
        except RuleViolation:
            return None

    async def process(self, entry: JournalEntry) -> Decision:
        """Apply one change: how it ended (a real error is raised; see the module)."""
        s, change = entry.side, entry.change
        link = self.link
        if (
            link is not None
            and change.token is not None
            and change.token == link.tokens[s]
            and change.native_id == link.ids[s]
        ):
            return Decision("echo")
        if self.known_version(s, change):
            return Decision("echo" if link is not None and link.tokens[s] is not None else "noop")
        if change.token in self.tokens and (link is None or change.native_id != link.ids[s]):
            # another row a write of ours touched (e.g. a trigger): routed again, by its own
            # link or key, once this actor is done (our tokens then route nothing here)
            return Decision("requeued", "another row this record's write touched (e.g. a trigger)")
        if change.op == "delete":
            return await self.on_delete(s, change.native_id)
        row = self.read = await self.current(s, entry)
        if row is None:
            return Decision("filtered")
        values = self.canonical(s, row)
        if isinstance(values, Decision):
            return values
        if not rules.in_companies(self.map, values):
            return Decision("filtered")
        values = await self.resolve_references(values)
        if isinstance(values, Decision):
            return values
        if link is None:
            return await self.on_new(s, row, values)
        if link.ids[s] != row.native_id:
            if (ended := await self.take_over(s, link, row)) is not None:
                return ended
        return await self.reconcile(Pair(link, s, {s: (row, values)}))

    def known_version(self, s: int, change: Change) -> bool:
        """Whether a change (of a side that carries no tokens) is of the row's version the
        link holds already: the echo of our own write, whose result gave that version, or a
        change applied before (versions change whenever the row does)."""
        link = self.link
        return (
            link is not None
            and change.op == "upsert"
            and change.token is None
            and bool(change.version)
            and change.native_id == link.ids[s]
            and change.version == link.versions[s]
        )

    async def take_over(self, s: int, link: Link, row: Row) -> Decision | None:
        """A second row of the record's key: a duplicate while the linked row is there (or
        the link names none: a lost table's re-sync decides); else that row went with no
        delete in the feed (SQLite's ``REPLACE`` deletes so) and this row is the record's."""
        linked = link.ids[s]
        if linked is None or await self.ctx.readers[s].get(self.map.entities[s], [linked]):
            return Decision(
                "rejected",
                f"duplicate key {link.key} on side {self.side_name(s)!r}: "
                f"row {row.native_id} has the key of row {linked}",
                "duplicate",
            )
        if (ended := await self.claim(s, row.native_id, link)) is not None:
            return ended
        self.ctx.log.warning(
            "row_replaced",
            map=self.map.name,
            key=link.key,
            side=self.side_name(s),
            change_id=self.change_id,
            native_id=row.native_id,
            replaced=linked,
        )
        link.ids[s], link.versions[s] = row.native_id, row.version
        return None

    async def resolve_references(self, values: Values) -> Values | Decision:
        """Park on a lookup target that is not linked; defer lookups into this map.

        A deferred field is written as if unchanged (the shadow's value, or empty for a new
        record) and the record waits for its target, to be patched when it is linked.
        """
        out = dict(values)
        for ref in lookups.references(self.map, self.ctx.maps, values):
            if not await self.ctx.parking.missing(ref):
                if (native := ref.native) is not None:  # linked since the row was read
                    out[ref.field] = await self.linked_key_part(ref.map, *native)
                continue
            self.waiting_for.append(ref)
            if ref.map != self.map.name:
                return Decision("parked", f"waiting for {ref.describe()}")
            out[ref.field] = self.link.shadow.get(ref.field) if self.link else None
        return out

    async def linked_key_part(self, map_name: str, side: int, native_id: str) -> Value:
        """The key a lookup names by the native id of a row that is linked now: the
        referenced record's last key field (canonical), as ``native_lookups`` gives it."""
        link = await self.ctx.store.link_by_native(map_name, side, native_id)
        decoded = mapping.decode_key(link.key) if link is not None else None
        return decoded[-1] if isinstance(decoded, list) and decoded else None

    def parked(self, entry: JournalEntry) -> Parked | None:
        """The parked row for what this record waits for, if anything."""
        if not self.waiting_for:
            return None
        ref = self.waiting_for[0]
        what = "patch of" if ref.map == self.map.name else "waiting for"
        key = self.key or self.entry_key(entry) or ""
        reason = f"{what} {ref.describe()}"
        return Parked(
            map=self.map.name,
            side=entry.side,
            native_id=entry.change.native_id,
            key=key,
            ref_map=ref.map,
            ref_key=ref.encoded,
            reason=reason,
            since=time.time(),
        )

    async def current(self, s: int, entry: JournalEntry) -> Row | None:
        """The changed row as it is now (``None`` if gone or filtered out).

        A change's own values were read with the feed and may be stale by now: the row
        may have been written since (merging old values would undo that write) or
        deleted (linking it would pull a dead row's values into the other side, and its
        delete would then take the partner with it). They are used only when they are
        at least as new as what the link holds (``fresh``); else the row is read again.
        So the row of a record not linked yet is always read here, and ``create`` trusts
        that read (a delete since then follows in the record's mailbox, and deletes the
        new partner).
        """
        change = entry.change
        if change.values is not None and change.version is not None and self.fresh(s, change):
            return Row(change.native_id, change.version, change.values, change.changed_at)
        rows = await self.ctx.readers[s].get(self.map.entities[s], [change.native_id])
        return rows.get(change.native_id)

    def fresh(self, s: int, change: Change) -> bool:
        """Whether a linked row's change carries values at least as new as anything this
        record wrote to the row: its version is the link's, or (on a side whose versions
        only grow, ``versions_ordered``) above it. A write of ours since the feed read the
        row would have given the link a higher version than the change's."""
        link = self.link
        if link is None or link.ids[s] != change.native_id:
            return False
        known = link.versions[s]
        if known == change.version:
            return True
        if not known or not getattr(self.ctx.sides[s], "versions_ordered", False):
            return False
        try:
            return int(str(change.version)) > int(known)
        except ValueError:
            return False

    async def on_delete(self, s: int, native_id: str) -> Decision:
        link = self.link
        if link is None or link.ids[s] != native_id or await self.still_there(s, link):
            return Decision("noop")
        t = 1 - s
        self.link = None
        self.deleted_key = link.key
        if not rules.may_delete(self.map, s):
            return Decision(
                "rejected",
                f"deleted on {self.side_name(s)!r}, but map "
                f"{self.map.name!r} replicates deletes only from "
                f"{self.sides_text(self.map.delete)}; the row on "
                f"{self.side_name(t)!r} is kept and unlinked",
                "rule",
            )
        op = WriteOp(
            self.map.entities[t],
            "delete",
            self.ctx.token(self.link_id),
            native_id=link.ids[t],
            record_key=link.key,
        )
        result = await self.write(t, op)
        if result.status == "permanent":
            return Decision("error", result.reason, "permanent")
        return Decision("applied")

    async def still_there(self, s: int, link: Link) -> bool:
        """Whether the deleted id names this record's row again: the delete is then of an
        earlier row the side gave the same id (a side must not, but is not trusted to)."""
        native_id = str(link.ids[s])
        row = (await self.ctx.readers[s].get(self.map.entities[s], [native_id])).get(native_id)
        if row is None or self.row_key(s, row) != link.key:
            return False
        self.ctx.log.warning(
            "stale_delete",
            map=self.map.name,
            key=link.key,
            side=self.side_name(s),
            change_id=self.change_id,
            native_id=native_id,
            reason="the row is still there: the delete is of an earlier row given its id",
        )
        return True

    def row_key(self, side: int, row: Row) -> str | None:
        try:
            return mapping.encode_key(
                mapping.key_of(self.map, mapping.canonical(self.map, side, row.values))
            )
        except RuleViolation:
            return None

    async def claim(self, t: int, native_id: str | None, link: Link) -> Decision | None:
        """Make sure no other record is linked to row ``native_id`` of side ``t`` before
        ``link`` takes it (a side must not give one id to two rows, but may): the other
        record is resolved first, by its own delete (see ``still_there``)."""
        holder = native_id and await self.ctx.store.link_by_native(self.map.name, t, native_id)
        if not holder or holder.id == self.link_id:
            return None
        key = link.key
        if holder.key == key and holder.ids[1 - t] == link.ids[1 - t]:
            return Decision("noop", "linked meanwhile, by a change of its other row")
        self.ctx.log.warning(
            "native_id_taken",
            map=self.map.name,
            key=key,
            side=self.side_name(t),
            change_id=self.change_id,
            native_id=native_id,
            linked_to=holder.key,
        )
        where = f"row {native_id} on side {self.side_name(t)!r}"
        if holder.key == key:
            return Decision(
                "rejected", f"duplicate key {key}: {where} is linked already", "duplicate"
            )
        raise TransientError(
            f"{where} has key {key} but is still linked to record {holder.key}:"
            " waiting for that record's delete"
        )

    def sides_text(self, sides: frozenset[int]) -> str:
        return ", ".join(repr(self.side_name(i)) for i in sorted(sides)) or "no side"

    async def on_new(self, s: int, row: Row, values: Values) -> Decision:
        t = 1 - s
        missing = mapping.missing_key_fields(self.map, s, values)
        if missing:
            return Decision(
                "rejected",
                f"integration key field(s) {missing} empty on side {self.side_name(s)!r}",
                "rule",
            )
        key = mapping.key_of(self.map, values)
        found = await self.ctx.readers[t].find(
            self.map.entities[t], self.map.key_names(t), [mapping.side_key(self.map, t, key)]
        )
        existing = next(iter(found.values()), None)
        link = Link.new(self.link_id, self.map.name, mapping.encode_key(key))
        link.ids[s] = row.native_id
        if existing is None:
            created = await self.create(s, row, values, link)
            if isinstance(created, Decision):
                return created
            existing = created
        if (ended := await self.claim(t, existing.native_id, link)) is not None:
            return ended
        link.ids[t] = existing.native_id
        self.link = link
        other = self.canonical(t, existing)
        if isinstance(other, Decision):
            return other
        return await self.reconcile(Pair(link, s, {s: (row, values), t: (existing, other)}))

    async def create(self, s: int, row: Row, values: Values, link: Link) -> Row | Decision:
        """Insert the record on the other side (``applied``, or refused); the row there
        if one with the key appeared meanwhile.

        The source row is not read again here: ``current`` read it moments ago (a record
        not linked yet never uses the feed's values). A second read did not make a row
        deleted meanwhile safe anyway (it may go between that read and this write); what
        does is that its delete reaches this record: while this actor runs, the router
        sends a delete of the row's native id to it (``Router.resolve``: the busy
        provisional id), queued behind this change; once it has ended, its link is
        committed (the actor ends only after its last commit) and the delete is routed
        by that link. Either way ``on_delete`` then deletes the partner made here, so
        the row ends on neither side. After a crash in between, recovery commits the
        intent's link if the insert was made (recovery.py), and the delete, still in the
        journal, then deletes the partner the same way.
        """
        t = 1 - s
        if not rules.may_create(self.map, s):
            return Decision(
                "rejected",
                rules.create_refused(self.map, s, self.ctx.side_names),
                "rule",
            )
        token = self.ctx.token(self.link_id)
        target = self.target_values(t, values)
        if isinstance(target, Decision):
            return target
        op = WriteOp(
            self.map.entities[t],
            "insert",
            token,
            values=target,
            key_fields=self.map.key_names(t),
            record_key=link.key,
        )
        after = Link(
            id=self.link_id,
            map=self.map.name,
            key=link.key,
            ids=list(link.ids),
            versions=[None, None],
            shadow=dict(values),
            tokens=[None, None],
        )
        after.versions[s], after.versions[t], after.tokens[t] = row.version, UNKNOWN_VERSION, token
        await self.intend(t, token, after)
        result = await self.write(t, op)
        if result.status == "conflict" and result.current is not None:
            return result.current
        if (ended := self.check(result)) is not None:
            return ended
        link.ids[t] = result.native_id  # the commit checks that no other record holds it
        link.versions = [None, None]
        link.versions[s], link.versions[t] = row.version, result.version
        link.tokens[t] = token
        link.shadow = values
        self.link = link
        return Decision("applied")

    def canonical(self, side: int, row: Row) -> Values | Decision:
        """A side's row in canonical terms, or why it cannot be: unreadable, or refused."""
        if row.error is not None:
            reason = rules.unreadable(self.map, side, self.ctx.side_names, row)
            return Decision("error", reason, "unreadable")
        try:
            return mapping.canonical(self.map, side, row.values)
        except RuleViolation as exc:
            return Decision("rejected", str(exc), "rule")

    def target_values(self, t: int, values: Values) -> Values | Decision:
        """Canonical values in side ``t``'s terms, or why they cannot be written there."""
        try:
            return mapping.side_values(self.map, t, values)
        except RuleViolation as exc:
            return Decision("rejected", str(exc), "rule")

    async def intend(
        self, side: int, token: str, after: Link, written: Values | None = None
    ) -> None:
        """Commit the intent of a write before making it (see recovery.py); ``written``:
        an update's changed fields and their new values."""
        self.intended = True
        self.tokens.append(token)
        self.writing[token] = (self.link_id, self.map.name)
        intent = Intent(token=token, side=side, link=after, created_at=time.time(), written=written)
        await self.ctx.committer.submit(Commit(intents=[intent]))

    async def write(self, side: int, op: WriteOp) -> WriteResult:
        result = await self.ctx.writers[side].submit(op)
        if result.status == "transient":
            raise TransientError(result.reason, retry_after=result.retry_after)
        return result

    def check(self, result: WriteResult) -> Decision | None:
        """Go on after a write that was made; end the step if it was refused for good."""
        if result.status == "permanent":
            return Decision("error", result.reason, "permanent")
        if result.status == "conflict":
            raise TransientError(f"write conflict: {result.reason}")
        return None

    # -- the reconcile loop -------------------------------------------------------------

    async def reconcile(self, pair: Pair) -> Decision:
        """Merge both sides against the shadow and write what differs, conditionally.

        A side whose row we did not read is assumed to hold the shadow at the link's
        version; if that is wrong the conditional write answers ``conflict`` with the
        current row and the merge runs again with it. A shadow that lacks a field (both
        sides never agreed on it: an initial sync cut short or met by a user's edit) says
        nothing of what a side holds, so both rows are read first.
        """
        if any(f.id not in pair.link.shadow for f in self.map.all_fields):
            for side in (0, 1):
                if side in pair.read:
                    continue
                if (ended := await self.read_side(pair, side)) is not None:
                    return ended
        outcome: Outcome = "noop"
        for _ in range(MAX_CONFLICT_ROUNDS):
            winner = rules.conflict_winner(self.map, pair.changed_at, pair.source)
            vals = (pair.vals[0], pair.vals[1])
            merged = rules.merge(self.map, pair.link.shadow, vals, winner)
            reverts = rules.reverted(self.map, pair.link.shadow, vals, merged.values)
            if (ended := await self.park_on_learned_references(pair, merged.values)) is not None:
                return ended
            self.log_conflicts(pair, merged)
            if merged.conflicts:
                outcome = "conflict"
            retry = False
            for side in (1 - pair.source, pair.source):
                wrote = await self.write_side(pair, side, merged.values)
                if isinstance(wrote, Decision):
                    return wrote
                if wrote is None:
                    retry = True
                    break
                if wrote and outcome == "noop":
                    outcome = "applied"
            if not retry:
                pair.settle(merged.values)
                pair.link.key = mapping.encode_key(mapping.key_of(self.map, merged.values))
                self.log_reverts(pair, reverts)
                return Decision(outcome)
        raise TransientError(f"the record kept changing during {MAX_CONFLICT_ROUNDS} merges")

    async def write_side(self, pair: Pair, side: int, merged: Values) -> bool | Decision | None:
        """Write the fields of ``side`` that differ: True if written, None on a conflict
        (merge again with the row it answered), a ``Decision`` if the step ends here."""
        changed = rules.diff(merged, pair.vals[side])
        if not changed:
            return False
        link = pair.link
        token = self.ctx.token(self.link_id)
        written = {k: merged[k] for k in changed}
        target = self.target_values(side, written)
        if isinstance(target, Decision):
            return target
        op = WriteOp(
            self.map.entities[side],
            "update",
            token,
            native_id=link.ids[side],
            values=target,
            expected_version=pair.versions[side],
            record_key=mapping.encode_key(mapping.key_of(self.map, merged)),
        )
        await self.intend(side, token, pair.after(side, token, merged), written)
        result = await self.write(side, op)
        if result.status == "conflict":
            if result.current is None:
                return Decision(
                    "conflict",
                    f"row {link.ids[side]} was deleted on "
                    f"{self.side_name(side)!r} meanwhile; the delete wins",
                )
            current = self.canonical(side, result.current)
            if isinstance(current, Decision):
                return current
            pair.known(side, result.current, current)
            return None
        if (ended := self.check(result)) is not None:
            return ended
        link.tokens[side] = token
        pair.wrote(side, result.version, merged)
        return True

    async def park_on_learned_references(self, pair: Pair, merged: Values) -> Decision | None:
        """A lookup value not checked with the changed row (``resolve_references``) parks
        the record like one of its own would: its target may not be linked yet, and the
        side written could refuse it. It came from a row read after a conflict: the other
        side's, or the changed side's own, read again (edited again since the feed's read)."""
        checked = pair.checked
        for ref in lookups.references(self.map, self.ctx.maps, merged):
            if ref.map == self.map.name or merged.get(ref.field) == checked.get(ref.field):
                continue
            if await self.ctx.parking.missing(ref):
                self.waiting_for.append(ref)
                return Decision("parked", f"waiting for {ref.describe()}")
        return None

    async def read_side(self, pair: Pair, side: int) -> Decision | None:
        native_id = str(pair.link.ids[side])
        rows = await self.ctx.readers[side].get(self.map.entities[side], [native_id])
        row = rows.get(native_id)
        if row is None:
            return Decision(
                "conflict",
                f"row {native_id} was deleted on {self.side_name(side)!r} meanwhile; "
                "the delete wins",
            )
        values = self.canonical(side, row)
        if isinstance(values, Decision):
            return values
        pair.known(side, row, values)
        return None

    def log_reverts(self, pair: Pair, reverts: list[rules.Revert]) -> None:
        """DESIGN §4: an edit of a one-way field on the side that does not own it is
        reverted to the owner's value, and logged with both (each in its side's terms)."""
        for r in reverts:
            own = 1 - r.side
            self.ctx.log.warning(
                "one_way_reverted",
                map=self.map.name,
                key=pair.link.key,
                side=self.side_name(r.side),
                change_id=self.change_id,
                field=r.field.names[r.side],
                refused=mapping.side_value(r.field, r.side, r.refused),
                owner=self.side_name(own),
                owner_field=r.field.names[own],
                owner_value=mapping.side_value(r.field, own, r.owned),
            )

    def log_conflicts(self, pair: Pair, merged: rules.Merge) -> None:
        for c in merged.conflicts:
            self.ctx.log.warning(
                "conflict",
                map=self.map.name,
                key=pair.link.key,
                field=c.field,
                side=self.side_name(pair.source),
                change_id=self.change_id,
                base=c.base,
                **{self.side_name(i): c.values[i] for i in (0, 1)},
                winner=self.side_name(c.winner),
                policy=self.map.conflict
                if self.map.conflict == "newest"
                else self.side_name(int(self.map.conflict)),
            )
