"""The records the core passes around and the state store keeps."""

from __future__ import annotations

import time
from typing import Literal

import msgspec

from .adapter import Change, Values

Outcome = Literal[
    "applied", "echo", "noop", "parked", "conflict", "rejected", "error", "filtered", "requeued"
]


class JournalEntry(msgspec.Struct, kw_only=True):
    """A change as journaled: which side and map it belongs to, and its journal id."""

    id: int
    side: int
    map: str
    change: Change
    received_at: float


class Link(msgspec.Struct, kw_only=True):
    """That row ``ids[0]`` on side 0 is row ``ids[1]`` on side 1, with their agreed shadow."""

    id: int
    map: str
    key: str
    ids: list[str | None]
    versions: list[str | None]
    shadow: Values
    tokens: list[str | None]

    @classmethod
    def new(cls, link_id: int, map_name: str, key: str) -> Link:
        """A link not yet written anywhere."""
        return cls(
            id=link_id,
            map=map_name,
            key=key,
            ids=[None, None],
            versions=[None, None],
            shadow={},
            tokens=[None, None],
        )


class ErrorEntry(msgspec.Struct, kw_only=True):
    """A record in the error queue."""

    id: int
    map: str
    side: int
    native_id: str
    key: str
    kind: str
    reason: str
    attempts: int
    first_seen: float
    last_seen: float
    change: Change | None = None

    @classmethod
    def first(
        cls,
        *,
        map: str,  # noqa: A002 - the field's name
        side: int,
        native_id: str,
        key: str,
        kind: str,
        reason: str,
        change: Change | None,
        since: float | None = None,
        now: float | None = None,
    ) -> ErrorEntry:
        """A record's first entry (the store numbers it, or adds to one it has): one
        attempt, seen first ``since`` and last ``now`` (both default to the time now)."""
        now = time.time() if now is None else now
        return cls(
            id=0,
            map=map,
            side=side,
            native_id=native_id,
            key=key,
            kind=kind,
            reason=reason,
            attempts=1,
            first_seen=now if since is None else since,
            last_seen=now,
            change=change,
        )


class Parked(msgspec.Struct, kw_only=True):
    """A record waiting for the record of ``ref_map`` with ``ref_key`` to be linked."""

    map: str
    side: int
    native_id: str
    key: str
    ref_map: str
    ref_key: str
    reason: str
    since: float


class Intent(msgspec.Struct, kw_only=True):
    """A write about to be made: committed before it, so a crash cannot orphan it.

    ``link`` is the link as it stands if the write (token ``token``, on ``side``) is
    applied; an insert leaves ``link.ids[side]`` empty, to be taken from the side's echo.
    After a crash, recovery (recovery.py) looks for the echo of ``token`` in the side's
    feed: found, ``link`` is committed; not found, the write never happened.

    ``written`` is what an update changes: the fields whose value it changes and the
    values it gives them (canonical), so that a side whose feed carries no tokens can
    judge by the row whether it happened. None for an insert (judged by its key) and for
    an intent an older release committed.
    """

    token: str
    side: int
    link: Link
    created_at: float
    written: Values | None = None


class Commit(msgspec.Struct, kw_only=True):
    """What one actor step makes durable, in one state-store transaction.

    ``intents`` are committed before a write; ``clear_intents`` (a link id) forgets every
    intent of that link, in the same transaction as the link they led to.
    """

    acks: list[int] = []
    link: Link | None = None
    drop_link: int | None = None
    error: ErrorEntry | None = None
    resolve: tuple[str, int, str] | None = None
    park: Parked | None = None
    intents: list[Intent] = []
    clear_intents: int | None = None
