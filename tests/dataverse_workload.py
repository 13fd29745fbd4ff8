"""The convergence suite's workload: F&O edited by plain SQL, Dataverse by a user through the
Web API, a seeded random mix of creates, updates, deletes and lookups on both.

The rules that keep the model exact (as in test_crash.py): after its birth a field is
edited on one side only (F&O: credit limit, group, latitude, description, price; Dataverse:
name, the mandatory flag, product name); an edit on the side a record was not born on,
and every delete, waits until the record is linked in the state store. Edits of F&O's
one-way fields made in Dataverse (latitude, price) are reverted by the replicator and do not
change the model; products a user creates in Dataverse are refused by the create rule.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from dataverse_process import User
from dataverse_world import (
    COMPANIES,
    CUSTOMERS,
    GROUPS,
    PRODUCTS,
    CrmReader,
    Key,
    Model,
    Table,
    Values,
    crm_values,
    link_ids,
)

from daemon import connect

Op = Callable[[], bool]


def fno_insert(fno: Path, t: Table, key: Key, values: Values) -> None:
    """Insert a record into the F&O file, like an F&O application."""
    with closing(connect(fno)) as conn:
        insert(conn, t, key, values)


def fno_execute(fno: Path, statement: str, params: list[Any]) -> int:
    """Run one statement on the F&O file; the rows it changed."""
    with closing(connect(fno)) as conn:
        return int(conn.execute(statement, params).rowcount)


class Workload:
    """The seeded random mix; ``step()`` makes one change (or finds nothing to do)."""

    def __init__(
        self, fno: Path, user: User, crm: CrmReader, state: Path, model: Model, seed: int
    ) -> None:
        self.fno, self.user, self.crm, self.state, self.model = fno, user, crm, state, model
        self.rng = random.Random(seed)
        self.serial = 0
        self.counts: dict[str, int] = {}
        self.ops: list[tuple[int, Op]] = [
            (12, self.fno_create_customer),
            (12, self.fno_edit_customer),
            (3, self.fno_delete_customer),
            (3, self.fno_create_group),
            (3, self.fno_edit_group),
            (4, self.fno_create_product),
            (4, self.fno_edit_price),
            (8, self.crm_create_customer),
            (10, self.crm_edit_customer),
            (3, self.crm_edit_latitude),
            (3, self.crm_delete_customer),
            (2, self.crm_create_group),
            (4, self.crm_edit_product_name),
            (2, self.crm_edit_price),
            (2, self.crm_create_product),
        ]

    def step(self) -> None:
        op = self.rng.choices([o for _, o in self.ops], [w for w, _ in self.ops])[0]
        if op():
            self.counts[op.__name__] = self.counts.get(op.__name__, 0) + 1

    def next(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial:05d}"

    # -- picking records -----------------------------------------------------------------

    def pick(self, t: Table, side: str) -> tuple[Key, str | None] | None:
        """A live record ``side`` may edit (born there, else linked) and its GUID if known."""
        live = self.model.live(t)
        if not live:
            return None
        key = self.rng.choice(live)
        ids = link_ids(self.state, t, key)
        if ids is not None:
            return key, ids[1]
        if self.model.born[t.map].get(key) == side:
            return key, self.model.guids[t.map].get(key)
        return None

    def linked(self, t: Table) -> tuple[Key, str] | None:
        live = self.model.live(t)
        key = self.rng.choice(live) if live else None
        ids = None if key is None else link_ids(self.state, t, key)
        return None if key is None or ids is None else (key, ids[1])

    def group_of(self, company: str, *, on_crm: bool) -> tuple[str, str | None] | None:
        """A live group of ``company`` (on crm: one the user can see, with its GUID)."""
        groups = [k for k in self.model.live(GROUPS) if k[0] == company]
        self.rng.shuffle(groups)
        for key in groups:
            if not on_crm:
                return key[1], None
            guid = self.model.guids[GROUPS.map].get(key)
            ids = link_ids(self.state, GROUPS, key)
            if guid or ids:
                return key[1], guid or (ids[1] if ids else None)
        return None

    def customer(self, company: str, *, on_crm: bool) -> tuple[Values, str | None] | None:
        """A new customer's values, and its group's GUID on crm."""
        group = self.group_of(company, on_crm=on_crm)
        if group is None:
            return None
        values = {
            "OrganizationName": self.next("org "),
            "CreditLimit": round(self.rng.uniform(100, 90000), 2),
            "CustomerGroupId": group[0],
            "Latitude": None if on_crm else round(self.rng.uniform(-80, 80), 4),
            "CreditLimitMandatory": self.rng.choice(["Yes", "No"]),
        }
        return values, group[1]

    # -- F&O -----------------------------------------------------------------------------

    def fno_create_customer(self) -> bool:
        key = (self.rng.choice(COMPANIES), self.next("W"))
        made = self.customer(key[0], on_crm=False)
        if made is None:
            return False
        values = made[0]
        fno_insert(self.fno, CUSTOMERS, key, values)
        self.model.put(CUSTOMERS, key, values, born="fno")
        return True

    def fno_update(self, t: Table, key: Key, column: str, value: Any) -> bool:
        changed = fno_execute(
            self.fno,
            f'UPDATE "{t.fno}" SET "{column}" = ? WHERE dataAreaId = ? AND "{t.number[0]}" = ?',
            [value, *key],
        )
        if changed:
            self.model.put(t, key, {column: value})
        return changed == 1

    def fno_edit_customer(self) -> bool:
        found = self.pick(CUSTOMERS, "fno")
        if found is None:
            return False
        key = found[0]
        column = self.rng.choice(["CreditLimit", "CustomerGroupId", "Latitude"])
        if column == "CustomerGroupId":
            group = self.group_of(key[0], on_crm=False)
            value: Any = group[0] if group else None
        elif column == "Latitude":
            value = round(self.rng.uniform(-80, 80), 4)
        else:
            value = round(self.rng.uniform(100, 90000), 2)
        return value is not None and self.fno_update(CUSTOMERS, key, column, value)

    def fno_delete(self, t: Table) -> bool:
        found = self.linked(t)
        if found is None:
            return False
        statement = f'DELETE FROM "{t.fno}" WHERE dataAreaId = ? AND "{t.number[0]}" = ?'
        if fno_execute(self.fno, statement, list(found[0])) != 1:
            return False
        self.model.deleted[t.map].add(found[0])
        return True

    def fno_delete_customer(self) -> bool:
        return self.fno_delete(CUSTOMERS)

    def fno_create_group(self) -> bool:
        key = (self.rng.choice(COMPANIES), self.next("FG"))
        values = {"Description": f"group {key[1]}"}
        fno_insert(self.fno, GROUPS, key, values)
        self.model.put(GROUPS, key, values, born="fno")
        return True

    def fno_edit_group(self) -> bool:
        found = self.pick(GROUPS, "fno")
        return found is not None and self.fno_update(
            GROUPS, found[0], "Description", self.next("described ")
        )

    def fno_create_product(self) -> bool:
        key = (self.rng.choice(COMPANIES), self.next("P"))
        values = {"ProductName": f"product {key[1]}", "SalesPrice": float(self.rng.randrange(999))}
        fno_insert(self.fno, PRODUCTS, key, values)
        self.model.put(PRODUCTS, key, values, born="fno")
        return True

    def fno_edit_price(self) -> bool:
        found = self.pick(PRODUCTS, "fno")
        price = round(self.rng.uniform(1, 9999), 2)
        return found is not None and self.fno_update(PRODUCTS, found[0], "SalesPrice", price)

    # -- Dataverse, as a user ----------------------------------------------------------------

    def crm_create_customer(self) -> bool:
        key = (self.rng.choice(COMPANIES), self.next("C"))
        made = self.customer(key[0], on_crm=True)
        if made is None:
            return False
        values, group = made
        guid = self.user.create("accounts", self.crm.body(CUSTOMERS, key, values, group))
        self.model.put(CUSTOMERS, key, values, born="crm")
        self.model.guids[CUSTOMERS.map][key] = guid
        return True

    def crm_update(
        self, t: Table, found: tuple[Key, str | None] | None, field: str, v: Any
    ) -> bool:
        if found is None or found[1] is None:
            return False
        if not self.user.update(t.crm, found[1], crm_values(t, field, v)):
            return False
        self.model.put(t, found[0], {field: v})
        return True

    def crm_edit_customer(self) -> bool:
        found = self.pick(CUSTOMERS, "crm")
        if self.rng.random() < 0.6:
            return self.crm_update(CUSTOMERS, found, "OrganizationName", self.next("crm org "))
        return self.crm_update(
            CUSTOMERS, found, "CreditLimitMandatory", self.rng.choice(["Yes", "No"])
        )

    def crm_edit_latitude(self) -> bool:
        """An edit of F&O's one-way latitude in Dataverse: reverted, the model unchanged."""
        found = self.linked(CUSTOMERS)
        body = {"address1_latitude": round(self.rng.uniform(-89, -81), 4)}
        return found is not None and self.user.update("accounts", found[1], body)

    def crm_delete_customer(self) -> bool:
        found = self.linked(CUSTOMERS)
        if found is None or not self.user.delete("accounts", found[1]):
            return False
        self.model.deleted[CUSTOMERS.map].add(found[0])
        return True

    def crm_create_group(self) -> bool:
        key = (self.rng.choice(COMPANIES), self.next("CG"))
        values = {"Description": f"crm group {key[1]}"}
        guid = self.user.create("msdyn_customergroups", self.crm.body(GROUPS, key, values))
        self.model.put(GROUPS, key, values, born="crm")
        self.model.guids[GROUPS.map][key] = guid
        return True

    def crm_edit_product_name(self) -> bool:
        found = self.linked(PRODUCTS)
        return self.crm_update(PRODUCTS, found, "ProductName", self.next("crm product "))

    def crm_edit_price(self) -> bool:
        """An edit of F&O's one-way price in Dataverse: reverted, the model unchanged."""
        found = self.linked(PRODUCTS)
        body = {"msdyn_salesprice": round(self.rng.uniform(1, 9), 2)}
        return found is not None and self.user.update(PRODUCTS.crm, found[1], body)

    def crm_create_product(self) -> bool:
        """A product born in Dataverse: the create rule sends it to the error queue."""
        key = (self.rng.choice(COMPANIES), self.next("X"))
        values = {"ProductName": f"crm product {key[1]}", "SalesPrice": 1.0}
        guid = self.user.create(PRODUCTS.crm, self.crm.body(PRODUCTS, key, values))
        self.model.forbidden[guid] = key
        return True


def insert(conn: sqlite3.Connection, t: Table, key: Key, values: Values) -> None:
    cols = ["dataAreaId", t.number[0], *values]
    names = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join("?" * len(cols))
    conn.execute(f'INSERT INTO "{t.fno}" ({names}) VALUES ({marks})', [*key, *values.values()])
