"""The convergence suite's starting point: both sides seeded before the first run, out of
step the way real systems are (see ``seed``)."""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from pathlib import Path

from dataverse_process import User
from dataverse_workload import insert
from dataverse_world import COMPANIES, CUSTOMERS, GROUPS, PRODUCTS, CrmReader, Key, Model, Values

from daemon import connect


def seed(fno: Path, user: User, crm: CrmReader, model: Model, customers: int) -> None:
    """Both sides before the first run, out of step the way real systems are: groups and
    customers on one side or both (F&O, the initial master, wins where both hold a key),
    products on F&O, and a few products a user made in Dataverse (refused)."""
    with closing(connect(fno)) as conn:
        conn.execute("BEGIN")
        _seed_groups(conn, user, crm, model)
        _seed_customers(conn, user, crm, model, customers)
        for n in range(customers // 10):
            key = (COMPANIES[n % 2], f"PS{n:04d}")
            values: Values = {"ProductName": f"product {n}", "SalesPrice": float(n)}
            insert(conn, PRODUCTS, key, values)
            model.put(PRODUCTS, key, values, born="fno")
        conn.execute("COMMIT")
    for n in range(3):
        key = (COMPANIES[n % 2], f"XS{n:03d}")
        body = crm.body(PRODUCTS, key, {"ProductName": f"crm product {n}", "SalesPrice": 1.0})
        model.forbidden[user.create(PRODUCTS.crm, body)] = key


def _seed_groups(conn: sqlite3.Connection, user: User, crm: CrmReader, model: Model) -> None:
    """Per company G01-G04 on F&O, G03-G06 in Dataverse (G03 and G04 on both)."""
    for company in COMPANIES:
        for n in range(1, 7):
            key = (company, f"G{n:02d}")
            values = {"Description": f"group {n}" if n <= 4 else f"crm group {n}"}
            if n <= 4:
                insert(conn, GROUPS, key, values)
            if n >= 3:
                body = crm.body(GROUPS, key, {"Description": f"crm group {n}"})
                model.guids[GROUPS.map][key] = user.create(GROUPS.crm, body)
            model.put(GROUPS, key, values, born="fno" if n <= 2 else "crm" if n > 4 else "both")


def _seed_customers(
    conn: sqlite3.Connection, user: User, crm: CrmReader, model: Model, customers: int
) -> None:
    """Half on F&O only, a quarter in Dataverse only, a quarter on both (differing)."""
    rng = random.Random(customers)
    made: list[tuple[Key, Values]] = []
    for n in range(customers):
        key = (COMPANIES[n % 2], f"S{n:05d}")
        where = ("fno", "crm", "fno", "both")[n % 4]
        values: Values = {
            "OrganizationName": f"org {n}",
            "CreditLimit": round(rng.uniform(100, 90000), 2),
            "CustomerGroupId": f"G{rng.randrange(3, 7) if where == 'crm' else n % 4 + 1:02d}",
            "Latitude": None if where == "crm" else round(rng.uniform(-80, 80), 4),
            "CreditLimitMandatory": rng.choice(["Yes", "No"]),
        }
        if where != "crm":
            insert(conn, CUSTOMERS, key, values)
        if where != "fno":
            other = dict(values)
            if where == "both":
                other.update(OrganizationName=f"crm org {n}", Latitude=None, CustomerGroupId="G03")
            made.append((key, other))
        model.put(CUSTOMERS, key, values, born=where)
    groups = model.guids[GROUPS.map]
    bodies = [
        crm.body(CUSTOMERS, key, v, groups[(key[0], str(v["CustomerGroupId"]))]) for key, v in made
    ]
    for (key, _), guid in zip(made, user.create_many("accounts", bodies), strict=True):
        model.guids[CUSTOMERS.map][key] = guid
