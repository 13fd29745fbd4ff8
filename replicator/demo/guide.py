"""The demo's tour: the one set of steps ``replicator run`` prints and the README shows.

``demo_guide(folder)`` is the banner; ``tour(folder)`` its commands, which the README's tour
repeats word for word (a test keeps the two the same). Each ``sqlite3`` command waits for
the daemon's write lock (``.timeout``) instead of failing with "database is locked", and
the rows the tour inserts get keys that no earlier tour used, so the tour can be followed
again on every run.
"""

from __future__ import annotations

import contextlib
import itertools
import shlex
import sqlite3
import textwrap
from pathlib import Path

__all__ = ["SQLITE", "demo_guide", "fresh_number", "tour", "tour_keys"]

SQLITE = 'sqlite3 -cmd ".timeout 5000"'
"""The ``sqlite3`` shell, waiting up to 5 s for a lock (the daemon holds one for milliseconds)."""


def demo_guide(folder: Path) -> str:
    """The "try it" text ``replicator run`` prints, with keys fresh in the demo at ``folder``."""
    fno, crm = shlex.quote(str(folder / "fno.db")), shlex.quote(str(folder / "crm.db"))
    steps = textwrap.indent(tour(folder, fresh_number(folder / "crm.db")), "  ")
    return f"""\
The demo is running: {fno} plays Finance & Operations, {crm} plays Dataverse.
In another terminal, try:

{steps}"""


def tour(folder: Path, number: int = 0) -> str:
    """The tour's commands for the demo at ``folder``; ``number`` picks the keys it inserts."""
    fno, crm = shlex.quote(str(folder / "fno.db")), shlex.quote(str(folder / "crm.db"))
    config = shlex.quote(str(folder / "demo.toml"))
    account, item = tour_keys(number)
    return f"""\
# 1. Raise a credit limit in F&O, then see it in Dataverse
{SQLITE} {fno} "UPDATE CustomersV3 SET CreditLimit = 250000 WHERE dataAreaId = 'usmf' AND CustomerAccount = 'US-0001'"
{SQLITE} {crm} "SELECT name, creditlimit FROM accounts WHERE company = 'usmf' AND accountnumber = 'US-0001'"

# 2. Create an account in Dataverse, then find the customer in F&O (state written out)
{SQLITE} {crm} "INSERT INTO accounts (company, accountnumber, name, msdyn_customergroupid, creditlimit, address1_city, address1_stateorprovince) VALUES ('usmf', '{account}', 'Fabrikam Outfitters Boise', '30', 50000, 'Boise', 'ID')"
{SQLITE} {fno} "SELECT CustomerAccount, OrganizationName, DeliveryAddressState FROM CustomersV3 WHERE CustomerAccount = '{account}'"

# 3. Key a product in Dataverse: products are born only in F&O, so it is refused
{SQLITE} {crm} "INSERT INTO msdyn_sharedproductdetails (company, msdyn_itemnumber, msdyn_name, msdyn_salesprice) VALUES ('usmf', '{item}', 'Pop-up display stand', 89)"
replicator errors --config {config} list

# 4. Where every map stands
replicator status --config {config}
"""  # noqa: E501


def tour_keys(number: int) -> tuple[str, str]:
    """The account number and item number tour ``number`` inserts in company usmf."""
    return f"CRM-{9001 + number:05d}", f"X-{1000 + number}"


def fresh_number(crm: Path) -> int:
    """The lowest tour number whose account and item are both new to the Dataverse ``crm``.

    0 if ``crm`` cannot be read: the guide never creates or changes a file, and the daemon
    that starts next says what is wrong with it.
    """
    if not crm.is_file():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(crm)) as conn:
            taken = {
                row[0]
                for row in conn.execute(
                    "SELECT accountnumber FROM accounts WHERE company = 'usmf' UNION ALL"
                    " SELECT msdyn_itemnumber FROM msdyn_sharedproductdetails"
                    " WHERE company = 'usmf'"
                )
            }
    except sqlite3.Error:
        return 0
    return next(n for n in itertools.count() if taken.isdisjoint(tour_keys(n)))
