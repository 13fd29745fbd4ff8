"""The F&O convergence test's world and workload: customers in the emulated F&O (``CustomersV3``,
edited by a user through OData) and in an SQLite side (``accounts``, edited by plain SQL), a
seeded random mix of creates, updates and deletes on both, and the model of what both must end
holding.

The rules that keep the model exact: after its birth a customer's name is edited in F&O only
and its credit limit in SQLite only; an edit on the side a record was not born on, and every
delete, waits until the record is linked in the state store (with lost events that can be
until the reconciliation pass).
"""

from __future__ import annotations

import random
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from fno_process import FnoUser

from daemon import connect, create_db, query
from replicator.mapping import encode_key

MAP = "customers"
ENTITY = "CustomersV3"
COMPANIES = ("usmf", "usrt")
GROUP = "10"  # in every company of the emulator's seed rows

Key = tuple[str, str]
Record = tuple[str, float, str]  # name, credit limit, customer group

CRM_SCHEMA = """
CREATE TABLE accounts (id INTEGER PRIMARY KEY, company TEXT, accountnumber TEXT,
                       name TEXT, creditlimit REAL, custgroup TEXT);
"""
MAP_TOML = f"""
[[maps]]
name = "{MAP}"
fno = "{ENTITY}"
crm = "accounts"
key = [ {{ fno = "dataAreaId", crm = "company" }},
        {{ fno = "CustomerAccount", crm = "accountnumber" }} ]
fields = [
  {{ fno = "OrganizationName", crm = "name" }},
  {{ fno = "CreditLimit", crm = "creditlimit" }},
  {{ fno = "CustomerGroupId", crm = "custgroup" }},
]
"""


@dataclass
class Model:
    """What both sides must hold: live records, where each was born, what was deleted."""

    records: dict[Key, Record] = field(default_factory=dict)
    born: dict[Key, str] = field(default_factory=dict)
    deleted: set[Key] = field(default_factory=set)

    def live(self) -> list[Key]:
        return sorted(k for k in self.records if k not in self.deleted)


def make_crm(directory: Path) -> Path:
    return create_db(directory / "crm.db", CRM_SCHEMA)


def fno_records(user: FnoUser) -> dict[Key, Record]:
    """Every customer in F&O, every company."""
    select = "dataAreaId,CustomerAccount,OrganizationName,CreditLimit,CustomerGroupId"
    return {
        (r["dataAreaId"], r["CustomerAccount"]): (
            r["OrganizationName"] or "",
            round(float(r["CreditLimit"] or 0), 2),
            r["CustomerGroupId"] or "",
        )
        for r in user.rows(ENTITY, select)
    }


def crm_rows(crm: Path) -> list[tuple[Key, Record]]:
    """Every account in the SQLite side (a duplicated key shows twice)."""
    sql = "SELECT company, accountnumber, name, creditlimit, custgroup FROM accounts"
    return [
        ((c, n), (name or "", round(float(credit or 0), 2), group or ""))
        for c, n, name, credit, group in query(crm, sql)
    ]


def disagreements(user: FnoUser, crm: Path, model: Model) -> list[str]:
    """Every way the two sides differ from the model (empty when converged)."""
    return differences(user, crm_rows(crm), model)


def differences(user: FnoUser, rows: list[tuple[Key, Record]], model: Model) -> list[str]:
    """Every way F&O and the other side's ``rows`` (in the model's terms) differ from the model."""
    wanted = {k: model.records[k] for k in model.live()}
    problems: list[str] = []
    keys = [k for k, _ in rows]
    problems += [f"crm: {k} {keys.count(k)} times" for k in sorted(set(keys)) if keys.count(k) > 1]
    for side, found in (("fno", fno_records(user)), ("crm", dict(rows))):
        for key in sorted(set(found) | set(wanted)):
            if found.get(key) != wanted.get(key):
                problems.append(f"{side} {key}: {found.get(key)} != model {wanted.get(key)}")
    return problems


def linked(state: Path, key: Key) -> bool:
    if not state.exists():
        return False
    sql = "SELECT 1 FROM links WHERE map = ? AND key = ? AND id0 IS NOT NULL AND id1 IS NOT NULL"
    return bool(query(state, sql, (MAP, encode_key(key))))


class Workload:
    """The seeded random mix; ``step()`` makes one change (or finds nothing to do)."""

    def __init__(
        self, user: FnoUser, crm: Path | None, state: Path, model: Model, seed: int
    ) -> None:
        """``crm`` is the SQLite side's file (None when a subclass edits another other side)."""
        self.user, self.crm, self.state, self.model = user, crm, state, model
        self.rng = random.Random(seed)
        self.serial = 0
        self.counts: dict[str, int] = {}
        self.ops = [
            (5, self.fno_create),
            (6, self.fno_rename),
            (2, self.fno_delete),
            (5, self.crm_create),
            (6, self.crm_credit),
            (2, self.crm_delete),
        ]

    def step(self) -> None:
        op = self.rng.choices([o for _, o in self.ops], [w for w, _ in self.ops])[0]
        if op():
            self.counts[op.__name__] = self.counts.get(op.__name__, 0) + 1

    def new_key(self, prefix: str) -> Key:
        self.serial += 1
        return self.rng.choice(COMPANIES), f"{prefix}-{self.serial:04d}"

    def pick(self, side: str, *, must_link: bool = False) -> Key | None:
        """A live record ``side`` may change: linked, or born there (unless ``must_link``)."""
        live = self.model.live()
        key = self.rng.choice(live) if live else None
        if key is None or linked(self.state, key):
            return key
        return key if self.model.born.get(key) == side and not must_link else None

    def credit(self) -> float:
        return round(self.rng.uniform(100, 90000), 2)

    # -- F&O, through OData ------------------------------------------------------------------

    def fno_create(self) -> bool:
        key, credit = self.new_key("F"), self.credit()
        name = f"fno customer {key[1]}"
        body = {"dataAreaId": key[0], "CustomerAccount": key[1], "OrganizationName": name,
                "CreditLimit": credit, "CustomerGroupId": GROUP}  # fmt: skip
        self.user.create(ENTITY, body)
        self.model.records[key], self.model.born[key] = (name, credit, GROUP), "fno"
        return True

    def fno_rename(self, key: Key | None = None) -> bool:
        """Rename a record (``key``, else one F&O may change)."""
        key = key or self.pick("fno")
        if key is None:
            return False
        name = f"renamed {self.rng.randrange(10**6)}"
        if not self.user.update(ENTITY, fno_key(key), {"OrganizationName": name}):
            return False
        self.model.records[key] = (name, *self.model.records[key][1:])
        return True

    def fno_delete(self, key: Key | None = None) -> bool:
        """Delete a record (``key``, else a linked one) in F&O."""
        key = key or self.pick("fno", must_link=True)
        if key is None or not self.user.delete(ENTITY, fno_key(key)):
            return False
        self.model.deleted.add(key)
        return True

    # -- SQLite, by plain SQL ------------------------------------------------------------------

    def crm_execute(self, statement: str, params: tuple[object, ...]) -> int:
        assert self.crm is not None, "no SQLite side to edit"
        with closing(connect(self.crm)) as conn:
            return int(conn.execute(statement, params).rowcount)

    def crm_create(self) -> bool:
        key, credit = self.new_key("C"), self.credit()
        name = f"crm customer {key[1]}"
        self.crm_execute(
            "INSERT INTO accounts (company, accountnumber, name, creditlimit, custgroup)"
            " VALUES (?, ?, ?, ?, ?)",
            (*key, name, credit, GROUP),
        )
        self.model.records[key], self.model.born[key] = (name, credit, GROUP), "crm"
        return True

    def crm_credit(self) -> bool:
        key, credit = self.pick("crm"), self.credit()
        where = "WHERE company = ? AND accountnumber = ?"
        if key is None or not self.crm_execute(
            f"UPDATE accounts SET creditlimit = ? {where}", (credit, *key)
        ):
            return False
        name, _, group = self.model.records[key]
        self.model.records[key] = (name, credit, group)
        return True

    def crm_delete(self) -> bool:
        key = self.pick("crm", must_link=True)
        where = "WHERE company = ? AND accountnumber = ?"
        if key is None or not self.crm_execute(f"DELETE FROM accounts {where}", key):
            return False
        self.model.deleted.add(key)
        return True


def fno_key(key: Key) -> dict[str, str]:
    return {"dataAreaId": key[0], "CustomerAccount": key[1]}
