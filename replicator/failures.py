"""Unexpected exceptions met while handling one record: that record's failure, not the engine's.

An exception outside the errors tree (a ``KeyError`` or ``TypeError`` from a bug in a
value's handling, in an adapter or in the core) raised for one record sends that record
to the error queue (kind ``internal``) and the rest keeps flowing; ``replicator errors
retry`` tries it again once the cause is fixed. The queue's reason names the exception's
type and message and where it happened (map, key, side, change); the traceback goes to
the log event ``record_failed``, not into the queue.

A failure of the state store (``StoreError``) is no record's: it stays fatal for the
engine, which then stops with the store's message.
"""

from __future__ import annotations

from typing import Any

from .model import ErrorEntry, JournalEntry

KIND = "internal"
"""The error-queue kind of a record whose handling raised an unexpected exception."""


def record_failed(
    log: Any, exc: Exception, *, map_name: str, key: str | None, side: str, change_id: int | None
) -> str:
    """Log the failure with its traceback; return the error queue's reason for it."""
    where = f"map {map_name!r}, key {key or '(unknown)'}, side {side!r}"
    if change_id is not None:
        where += f", change {change_id}"
    reason = f"unexpected {type(exc).__name__}: {exc} ({where})"
    log.error(
        "record_failed",
        map=map_name,
        key=key,
        side=side,
        change_id=change_id,
        error=type(exc).__name__,
        message=str(exc),
        exc_info=exc,
    )
    return reason


def error_entry(entry: JournalEntry, kind: str, reason: str) -> ErrorEntry:
    """The error-queue entry of a journaled change that failed before its key was known."""
    change = entry.change
    return ErrorEntry.first(
        map=entry.map,
        side=entry.side,
        native_id=change.native_id,
        key="",
        kind=kind,
        reason=reason,
        change=change,
    )
