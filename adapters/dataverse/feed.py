"""The change feed: Dataverse change tracking, one delta link per mapped entity set.

(powerapps-docs: use-change-tracking-synchronize-data-external-systems.md.) The cursor the
core keeps is one opaque string: the JSON object ``{entity_set: link}`` of whole links,
each the ``@odata.deltaLink`` of the entity's last complete read, or the
``@odata.nextLink`` of a read stopped by ``limit`` part way. An entity with no link is
read from the start (the initial tracking request: every row, as upserts);
``head_links`` pages through that request (5,000 rows a page, the rows dropped) to get
a delta link: the link keeps the request's ``$select``, so it selects every mapped
column. A delta page holds the changed rows with their current values, then the deletes
(``$deletedEntity`` entries). Dataverse carries no token: ``Change.token`` is always
None and the core recognises its echoes by ``Change.version`` (the row's etag).

An expired version stamp (``0x80044352``, after ``ExpireChangeTrackingInDays``) gives a
``reset`` change for that entity (the core re-syncs its map) and a fresh delta link.

The poll is adaptive (``PollInterval``): ``poll_interval_ms`` after a read with changes,
doubled after each empty one up to ``max_poll_interval_ms``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from replicator.adapter import Change, ChangeBatch, Row
from replicator.errors import PermanentError

from .errors import CHANGE_TRACKING_EXPIRED
from .schema import Getter

if TYPE_CHECKING:
    from adapters._remote.batch import Reply

log = structlog.get_logger()

HEAD_PAGE_SIZE = 5000  # the most odata.maxpagesize allows: the fewest requests to the head
_EXPIRED_WORDS = "version stamp associated with the client has expired"
_LINKS = msgspec.json.Decoder(dict[str, str])
_ENCODE = msgspec.json.Encoder()

RowsOf = Callable[[str, list[dict[str, Any]]], Awaitable[list[Row]]]
"""``rows(entity, raw_rows)``: the side's rows (values converted, dotted fields resolved)."""


class Tracked(msgspec.Struct, frozen=True, kw_only=True):
    """What the feed reads of one entity set."""

    entity: str
    primary_id: str
    select: tuple[str, ...]
    passes: Callable[[dict[str, Any]], bool] | None = None
    """Whether a row (as the server sent it) passes the map's filter."""


def encode_cursor(links: Mapping[str, str]) -> str:
    return _ENCODE.encode(dict(sorted(links.items()))).decode()


def decode_cursor(side: str, cursor: str | None) -> dict[str, str]:
    """The links of a cursor (``{}`` for None); ``PermanentError`` if it is not ours."""
    if cursor is None:
        return {}
    try:
        return _LINKS.decode(cursor)
    except msgspec.DecodeError:
        raise PermanentError(f"side {side}: {cursor[:80]!r} is not a Dataverse cursor") from None


def expired(reply: Reply) -> bool:
    """Whether ``reply`` says the delta link's version stamp expired."""
    error = reply.error()
    if error is None:
        return False
    return error.code == CHANGE_TRACKING_EXPIRED or _EXPIRED_WORDS in error.message.lower()


class PollInterval:
    """The wait before the next poll: fastest after changes, doubling while idle."""

    def __init__(self, fastest_s: float, slowest_s: float) -> None:
        self.fastest_s, self.slowest_s = fastest_s, max(fastest_s, slowest_s)
        self.idle_polls = 0

    def polled(self, changes: bool) -> None:
        self.idle_polls = 0 if changes else self.idle_polls + 1

    @property
    def seconds(self) -> float:
        doublings = max(0, self.idle_polls - 1)
        return min(self.slowest_s, self.fastest_s * float(2 ** min(doublings, 30)))


class Feed:
    """Reads the changes of the tracked entity sets through ``getter``."""

    def __init__(
        self, side: str, getter: Getter, rows: RowsOf, *, page_size: int, poll: PollInterval
    ) -> None:
        self.side, self.getter, self.rows = side, getter, rows
        self.page_size, self.poll = page_size, poll
        self.tracked: dict[str, Tracked] = {}
        self.turn = 0

    async def read(self, cursor: str | None, limit: int) -> ChangeBatch:
        """Changes after ``cursor``, at most ``limit``: one entity's pages after another's,
        starting with the next entity each time."""
        links = decode_cursor(self.side, cursor)
        changes: list[Change] = []
        order = list(self.tracked.items())
        self.turn = (self.turn + 1) % max(1, len(order))  # a busy entity starves no other
        for entity, tracked in order[self.turn :] + order[: self.turn]:
            while len(changes) < limit:
                link, done = await self._page(tracked, links.get(entity), limit - len(changes))
                changes.extend(link.changes)
                links[entity] = link.cursor or ""
                if done:
                    break
        self.poll.polled(bool(changes))
        return ChangeBatch(changes, encode_cursor(links) if links else cursor)

    async def head_links(self, entities: Sequence[str] | None = None) -> dict[str, str]:
        """A fresh delta link per entity, paging through the initial request cheaply."""
        links: dict[str, str] = {}
        for entity in entities if entities is not None else list(self.tracked):
            tracked = self.tracked[entity]
            url: str | None = None
            while True:
                reply = await self._get(tracked, url, HEAD_PAGE_SIZE)
                body = self._body(tracked, reply)
                url = body.get("@odata.nextLink")
                if url is None:
                    links[entity] = self._delta_link(tracked, body)
                    break
        return links

    async def _page(
        self, tracked: Tracked, link: str | None, room: int
    ) -> tuple[ChangeBatch, bool]:
        """One page of ``tracked``'s changes: the changes, the link after them, whether the
        entity is done (its delta link reached)."""
        reply = await self._get(tracked, link or None, min(room, self.page_size))
        if expired(reply):
            log.warning("dataverse_change_tracking_expired", side=self.side, entity=tracked.entity)
            fresh = (await self.head_links([tracked.entity]))[tracked.entity]
            return ChangeBatch([Change(tracked.entity, "", "reset")], fresh), True
        body = self._body(tracked, reply)
        changes = await self._changes(tracked, body.get("value") or [])
        following = body.get("@odata.nextLink")
        if following is not None:
            return ChangeBatch(changes, str(following)), False
        return ChangeBatch(changes, self._delta_link(tracked, body)), True

    async def _get(self, tracked: Tracked, link: str | None, size: int) -> Reply:
        # the preference goes with every request, links too: a page says which it honoured
        prefer = f"odata.track-changes,odata.maxpagesize={size}"
        if link is not None:
            return await self.getter.get(link, headers={"Prefer": prefer})
        select = ",".join(tracked.select)  # the delta link keeps it: every column read
        return await self.getter.get(
            tracked.entity, params={"$select": select}, headers={"Prefer": prefer}
        )

    def _body(self, tracked: Tracked, reply: Reply) -> dict[str, Any]:
        error = reply.error()
        if error is not None or not isinstance(reply.body, dict):
            what = error or "an answer that is not JSON"
            raise PermanentError(
                f"side {self.side}: entity {tracked.entity!r}: change tracking read failed: {what}"
            )
        return reply.body

    def _delta_link(self, tracked: Tracked, body: Mapping[str, Any]) -> str:
        link = body.get("@odata.deltaLink")
        if not isinstance(link, str):
            raise PermanentError(
                f"side {self.side}: entity {tracked.entity!r}: the last page of change tracking "
                "carries no @odata.deltaLink (is change tracking on for the table?)"
            )
        return link

    async def _changes(self, tracked: Tracked, items: list[dict[str, Any]]) -> list[Change]:
        upserts = [i for i in items if not _deleted(i)]
        rows = {row.native_id: row for row in await self.rows(tracked.entity, upserts)}
        changes: list[Change] = []
        for item in items:
            if _deleted(item):
                changes.append(Change(tracked.entity, str(item.get("id", "")).lower(), "delete"))
                continue
            row = rows.get(str(item.get(tracked.primary_id, "")).lower())
            if row is not None:
                changes.append(_upsert(tracked, row, item))
        return changes


def _deleted(item: Mapping[str, Any]) -> bool:
    context = str(item.get("@odata.context", ""))
    return context.endswith("$deletedEntity") or item.get("reason") == "deleted"


def _upsert(tracked: Tracked, row: Row, item: dict[str, Any]) -> Change:
    """An upsert with the row's values, or none if it is unreadable or outside the filter
    (the core reads it then, and a read applies the filter)."""
    readable = row.error is None and (tracked.passes is None or tracked.passes(item))
    return Change(
        tracked.entity,
        row.native_id,
        "upsert",
        values=dict(row.values) if readable else None,
        version=row.version,
        changed_at=row.changed_at,
    )
