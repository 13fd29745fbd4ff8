"""The sync script a user would write instead of the replicator: a full-table diff, both ways.

Every 50 ms it reads both customer tables whole, compares each with what it saw (and
wrote) there on the previous pass, and copies what is new, changed or deleted on one
side to the other, by key. A row changed on both sides within one pass: fno wins.

Writes are conditional: a row is overwritten or deleted only if it still holds what
this pass read, so a change an application makes during a pass is never lost (the
write is skipped and the change is seen on the next pass). Rows equal on both sides
are never written. The first pass therefore copies only what one side lacks or holds
differently (fno wins).

Its limits, as with any such script: what it saw lives in memory, so a delete made
while it is stopped is undone by the next start (the row is copied back) and a change
made on crm while it was stopped loses to fno's value; every pass reads both tables
whole, so a pass costs time in proportion to the table, not to the changes.

    python bench/naive_sync.py FNO_DB CRM_DB [--interval-ms 50] [--verbose]
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Key = tuple[Any, ...]
Values = tuple[Any, ...]
Rows = dict[Key, Values]  # key -> the mapped fields, in the same order on both sides
Changes = dict[Key, Values | None]  # None: deleted


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    fields: tuple[str, ...]


FNO = Table(
    "CustomersV3",
    key=("dataAreaId", "CustomerAccount"),
    fields=("OrganizationName", "CreditLimit", "AddressCity"),
)
CRM = Table(
    "accounts", key=("company", "accountnumber"), fields=("name", "creditlimit", "address1_city")
)


def connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise SystemExit(f"naive_sync: no database {str(path)!r}")
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def read(db: sqlite3.Connection, t: Table) -> Rows:
    """The whole table, by key (one statement: one consistent snapshot)."""
    n = len(t.key)
    rows = db.execute(f"SELECT {', '.join(t.key + t.fields)} FROM {t.name}")
    return {row[:n]: row[n:] for row in rows}


def changes(seen: Rows, now: Rows) -> Changes:
    """What differs in ``now`` from what was ``seen``: new and changed rows, deletes."""
    out: Changes = {k: v for k, v in now.items() if seen.get(k) != v}
    out.update(dict.fromkeys(seen.keys() - now.keys()))
    return out


def write(
    db: sqlite3.Connection, t: Table, key: Key, new: Values | None, old: Values | None
) -> bool:
    """Make the row ``key`` hold ``new`` if it still holds ``old``; whether it was written."""
    match_key = " AND ".join(f"{c} = ?" for c in t.key)
    match_old = " AND ".join(f"{c} IS ?" for c in t.fields)
    if new is None:
        assert old is not None
        sql, args = f"DELETE FROM {t.name} WHERE {match_key} AND {match_old}", (*key, *old)
    elif old is None:
        columns = ", ".join(t.key + t.fields)
        marks = ", ".join("?" * (len(t.key) + len(t.fields)))
        sql = f"INSERT INTO {t.name} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        args = (*key, *new)
    else:
        assign = ", ".join(f"{c} = ?" for c in t.fields)
        sql = f"UPDATE {t.name} SET {assign} WHERE {match_key} AND {match_old}"
        args = (*new, *key, *old)
    return db.execute(sql, args).rowcount == 1


def apply(db: sqlite3.Connection, t: Table, todo: Changes, now: Rows) -> tuple[Rows, set[Key], int]:
    """Copy ``todo`` into the table that held ``now`` when read, in one transaction.

    Returns what the table holds after it, as far as this script knows, the keys not
    written because the row changed since it was read, and the rows written."""
    held, skipped, written = dict(now), set[Key](), 0
    if not todo:
        return held, skipped, written
    db.execute("BEGIN IMMEDIATE")
    try:
        for key, new in todo.items():
            old = now.get(key)
            if new == old:
                continue
            if not write(db, t, key, new, old):
                skipped.add(key)
                continue
            written += 1
            if new is None:
                del held[key]
            else:
                held[key] = new
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return held, skipped, written


def unsee(held: Rows, seen: Rows, keys: set[Key]) -> None:
    """Forget that the changes of ``keys`` were seen, so the next pass copies them again."""
    for key in keys:
        if key in seen:
            held[key] = seen[key]
        else:
            held.pop(key, None)


def sync_pass(
    fno: sqlite3.Connection, crm: sqlite3.Connection, seen_fno: Rows, seen_crm: Rows
) -> tuple[Rows, Rows, int, int]:
    """One pass both ways: what each side holds now, and the rows copied each way."""
    now_fno, now_crm = read(fno, FNO), read(crm, CRM)
    to_crm, to_fno = changes(seen_fno, now_fno), changes(seen_crm, now_crm)
    for key in to_crm:
        to_fno.pop(key, None)  # changed on both sides: fno wins
    held_crm, skipped_crm, copied_crm = apply(crm, CRM, to_crm, now_crm)
    held_fno, skipped_fno, copied_fno = apply(fno, FNO, to_fno, now_fno)
    unsee(held_fno, seen_fno, skipped_crm)
    unsee(held_crm, seen_crm, skipped_fno)
    return held_fno, held_crm, copied_crm, copied_fno


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fno", type=Path)
    parser.add_argument("crm", type=Path)
    parser.add_argument("--interval-ms", type=float, default=50.0)
    parser.add_argument("--verbose", action="store_true", help="report every pass that copied")
    args = parser.parse_args(argv)
    fno, crm = connect(args.fno), connect(args.crm)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a pass in progress rolls back
    print(f"naive_sync: {args.fno} <-> {args.crm} every {args.interval_ms:g} ms", file=sys.stderr)
    seen_fno: Rows = {}
    seen_crm: Rows = {}
    first = True
    try:
        while True:
            started = time.perf_counter()
            seen_fno, seen_crm, to_crm, to_fno = sync_pass(fno, crm, seen_fno, seen_crm)
            took = time.perf_counter() - started
            if first or (args.verbose and (to_crm or to_fno)):
                print(
                    f"naive_sync: {'first pass' if first else 'pass'}: {len(seen_fno)} rows, "
                    f"copied {to_crm} to crm, {to_fno} to fno in {took:.6f} s",
                    file=sys.stderr,
                    flush=True,
                )
            first = False
            time.sleep(max(0.0, args.interval_ms / 1000 - took))
    except KeyboardInterrupt:
        return 0
    finally:
        fno.close()
        crm.close()


if __name__ == "__main__":
    raise SystemExit(main())
