"""Both sides of a linked record while ``Applier.reconcile`` (apply.py) merges them.

A ``Pair`` is the reconcile's view of the two rows, one value per side:

* ``vals``: what each side's row holds, as read (``known``) or, for a side not read, as
  assumed: the link's shadow (a conditional write there finds out if that is wrong);
* ``versions``: each side's version as read, or the link's; what a write there expects;
* ``read``: the sides whose row was read in this step, and ``changed_at`` their change
  times (the ``newest`` conflict policy compares them);
* ``checked``: the changed row's values whose lookups ``resolve_references`` checked, so
  that a lookup value learned later (from a row read after a conflict) is checked too.

It also keeps the pair's link as each write leaves it (``wrote``), names the link an
intent commits before a write (``after``), and settles the link once both sides hold the
merge (``settle``). What a link is after a write is ``rules.after_write``, shared with
the initial sync's intents (sync/writes.py).
"""

from __future__ import annotations

from .. import rules
from ..adapter import UNKNOWN_VERSION, Row, Values
from ..model import Link


class Pair:
    """Both sides of a link during a reconcile: values known or assumed, and versions."""

    def __init__(self, link: Link, source: int, rows: dict[int, tuple[Row, Values]]) -> None:
        self.link = link
        self.source = source
        self.vals: list[Values] = [dict(link.shadow), dict(link.shadow)]
        self.versions: list[str | None] = list(link.versions)
        self.changed_at: list[float | None] = [None, None]
        self.read: set[int] = set()
        for side, (row, values) in rows.items():
            self.known(side, row, values)
        self.checked: Values = dict(self.vals[source])
        """The changed row's values whose lookups ``resolve_references`` checked."""

    def known(self, side: int, row: Row, values: Values) -> None:
        self.read.add(side)
        self.vals[side] = values
        self.versions[side] = row.version
        self.changed_at[side] = row.changed_at

    def wrote(self, side: int, version: str | None, merged: Values) -> None:
        """``side`` now holds ``merged``: fields both sides hold become the shadow.

        The link's versions follow at once (``rules.after_write``: a side keeps its
        version only if its row holds that shadow): a step may still end before
        ``settle`` (parked on a lookup learned in a later round, a write refused), and its
        link is committed as it stands. With the versions read before this write, a
        change the feed read before it would pass for the row as it is now
        (``Applier.fresh``), and its old values undo the write.
        """
        self.vals[side] = dict(merged)
        self.versions[side] = version
        link = self.link
        after = rules.after_write(link.shadow, side, merged, self.vals[1 - side], self.versions)
        link.shadow, link.versions = after.shadow, after.versions

    def after(self, side: int, token: str, merged: Values) -> Link:
        """The link if ``side`` is written ``merged`` with ``token``: its version there
        unknown, its key as before the step (the replay settles a renamed key).

        The other side keeps the version it was read at only if its row holds the shadow
        this write leaves (``rules.after_write``, which says why): one still to be
        written in this step gets an unknown version too, so that after a crash before
        that write the replay of the change that called for it is not dropped.
        """
        link = self.link
        versions = list(self.versions)
        versions[side] = UNKNOWN_VERSION
        after = rules.after_write(link.shadow, side, merged, self.vals[1 - side], versions)
        tokens = list(link.tokens)
        tokens[side] = token
        return Link(
            id=link.id,
            map=link.map,
            key=link.key,
            ids=list(link.ids),
            versions=after.versions,
            shadow=after.shadow,
            tokens=tokens,
        )

    def settle(self, merged: Values) -> None:
        """Both sides hold ``merged``: it is the new shadow; the key follows it."""
        self.link.shadow = dict(merged)
        self.link.versions = list(self.versions)
