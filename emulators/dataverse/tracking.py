"""Change tracking: delta tokens and the changes a delta link returns.

From ``use-change-tracking-synchronize-data-external-systems.md``: the token is opaque (the
docs' example decodes to ``919042!08/22/2017 08:10:44``, a version and a time, and ours has the
same shape); a delta answer holds the rows changed since the token with their current values,
one entry per row sorted by version, then the rows deleted since (also rows created and deleted
in between, which the client never saw); a token older than the retention answers 0x80044352.
"""

from __future__ import annotations

import bisect
import calendar
import time
from typing import NamedTuple

from emulators.dataverse import errors
from emulators.dataverse.tables import TableStore

_FORMAT = "%m/%d/%Y %H:%M:%S"


class Entry(NamedTuple):
    """One delta entry: phase 0 a changed row, phase 1 a deleted one; sorted by (phase,
    version)."""

    phase: int
    version: int
    guid: str


def issue(version: int, now: float) -> str:
    """The token for changes after ``version``, stamped with the time it was issued."""
    return f"{version}!{time.strftime(_FORMAT, time.gmtime(now))}"


def parse(token: str) -> tuple[int, float]:
    """(version, issued at) of a token; 400 if it is not one of ours."""
    version, _, stamp = token.partition("!")
    try:
        return int(version), float(calendar.timegm(time.strptime(stamp, _FORMAT)))
    except ValueError:
        raise errors.bad_query(f"The delta token '{token}' is not valid.") from None


def check_fresh(
    store: TableStore, version: int, issued: float, now: float, retention_s: float | None
) -> None:
    """0x80044352 when the table's tracking was expired past the token, or it is too old."""
    if version < store.expired_before:
        raise errors.expired_version()
    if retention_s is not None and now - issued > retention_s:
        raise errors.expired_version()


def changes(store: TableStore, since: int, upto: int) -> list[Entry]:
    """The delta entries for versions in (since, upto]: changed rows, then deleted ones."""
    log = store.log
    start = bisect.bisect_right(log, since, key=lambda change: change.version)
    changed: list[Entry] = []
    deleted: dict[str, Entry] = {}
    for change in log[start:]:
        if change.version > upto:
            break
        row = store.rows.get(change.guid)
        if change.deleted:
            if row is None:
                deleted.pop(change.guid, None)
                deleted[change.guid] = Entry(1, change.version, change.guid)
        elif row is not None and row["versionnumber"] == change.version:
            changed.append(Entry(0, change.version, change.guid))
    return changed + list(deleted.values())
