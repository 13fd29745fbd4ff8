"""The convergence suite's world: an F&O SQLite file, the emulated Dataverse, their maps,
what both should hold (the model) and how to read each side in the model's terms.

Three maps, as Dual-write has them: customer groups and customers keyed on company +
number (the company is ``dataAreaId`` on F&O and ``msdyn_company.cdm_companycode`` on
Dataverse, a dotted field through ``cdm_companies``), customers with a lookup to their group,
a NoYes enum mapped to a Dataverse boolean, a one-way latitude, and released products that
may only be born on F&O (a product a user creates in Dataverse lands in the error queue).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataverse_process import EmulatorProcess, User

from daemon import create_db, query, scalar
from replicator.mapping import encode_key

COMPANIES = ("usmf", "usrt")

FNO_SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE CustCustomerGroup (
    RecId INTEGER PRIMARY KEY, dataAreaId TEXT NOT NULL, CustomerGroupId TEXT NOT NULL,
    Description TEXT, UNIQUE (dataAreaId, CustomerGroupId));
CREATE TABLE CustomersV3 (
    dataAreaId TEXT NOT NULL, CustomerAccount TEXT NOT NULL, OrganizationName TEXT,
    CreditLimit REAL, CustomerGroupId TEXT, Latitude REAL, CreditLimitMandatory TEXT,
    PRIMARY KEY (dataAreaId, CustomerAccount));
CREATE TABLE EcoResReleasedProductV2 (
    RecId INTEGER PRIMARY KEY, dataAreaId TEXT NOT NULL, ItemNumber TEXT NOT NULL,
    ProductName TEXT, SalesPrice REAL, UNIQUE (dataAreaId, ItemNumber));
"""

COMPANY = "msdyn_company.cdm_companycode"
MAPS = f"""
[value_maps.noyes]
"Yes" = true
"No" = false

[[maps]]
name = "customer_groups"
fno = "CustCustomerGroup"
crm = "msdyn_customergroups"
key = [ {{ fno = "dataAreaId", crm = "{COMPANY}" }},
        {{ fno = "CustomerGroupId", crm = "msdyn_groupid" }} ]
fields = [ {{ fno = "Description", crm = "msdyn_description" }} ]

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ {{ fno = "dataAreaId", crm = "{COMPANY}" }},
        {{ fno = "CustomerAccount", crm = "accountnumber" }} ]
fields = [
  {{ fno = "OrganizationName", crm = "name" }},
  {{ fno = "CreditLimit", crm = "creditlimit" }},
  {{ fno = "CustomerGroupId", crm = "msdyn_customergroupid", lookup = "customer_groups" }},
  {{ fno = "Latitude", crm = "address1_latitude", direction = "fno->crm" }},
  {{ fno = "CreditLimitMandatory", crm = "msdyn_creditlimitismandatory", value_map = "noyes" }},
]
prerequisites = ["customer_groups"]

[[maps]]
name = "products"
fno = "EcoResReleasedProductV2"
crm = "msdyn_sharedproductdetails"
key = [ {{ fno = "dataAreaId", crm = "{COMPANY}" }},
        {{ fno = "ItemNumber", crm = "msdyn_itemnumber" }} ]
fields = [ {{ fno = "ProductName", crm = "msdyn_name" }},
           {{ fno = "SalesPrice", crm = "msdyn_salesprice", direction = "fno->crm" }} ]
create = ["fno"]
"""

Key = tuple[str, str]  # (company, number)
Values = dict[str, Any]  # F&O column -> value (the model's terms)


@dataclass(frozen=True)
class Table:
    """One map's table on each side: names, the number column, mapped columns (fno, crm)."""

    map: str
    fno: str
    crm: str
    crm_id: str
    number: tuple[str, str]
    fields: tuple[tuple[str, str], ...]

    def crm_column(self, name: str) -> str:
        return dict(self.fields)[name]


GROUPS = Table(
    "customer_groups",
    "CustCustomerGroup",
    "msdyn_customergroups",
    "msdyn_customergroupid",
    ("CustomerGroupId", "msdyn_groupid"),
    (("Description", "msdyn_description"),),
)
CUSTOMERS = Table(
    "customers",
    "CustomersV3",
    "accounts",
    "accountid",
    ("CustomerAccount", "accountnumber"),
    (
        ("OrganizationName", "name"),
        ("CreditLimit", "creditlimit"),
        ("CustomerGroupId", "msdyn_customergroupid"),
        ("Latitude", "address1_latitude"),
        ("CreditLimitMandatory", "msdyn_creditlimitismandatory"),
    ),
)
PRODUCTS = Table(
    "products",
    "EcoResReleasedProductV2",
    "msdyn_sharedproductdetails",
    "msdyn_sharedproductdetailid",
    ("ItemNumber", "msdyn_itemnumber"),
    (("ProductName", "msdyn_name"), ("SalesPrice", "msdyn_salesprice")),
)
TABLES = (GROUPS, CUSTOMERS, PRODUCTS)
NOYES = {True: "Yes", False: "No"}


def write_config(directory: Path, emulator: EmulatorProcess) -> Path:
    """The daemon's config: F&O the SQLite file fno.db, crm the emulator."""
    path = directory / "replicator.toml"
    path.write_text(
        '[state]\npath = "state.db"\n\n'
        '[sides.fno]\nadapter = "sqlite"\npath = "fno.db"\npoll_interval_ms = 20\n\n'
        + emulator.side_options()
        + MAPS,
        encoding="utf-8",
    )
    return path


def make_fno(directory: Path) -> Path:
    return create_db(directory / "fno.db", FNO_SCHEMA)


# -- the model -------------------------------------------------------------------------


@dataclass
class Model:
    """What each map's records should hold at the end, by key, in F&O's terms.

    A field is edited after a record's birth on one side only (the workload's choice), so
    "the last value written" is well defined for each of them.
    """

    records: dict[str, dict[Key, Values]] = field(
        default_factory=lambda: {t.map: {} for t in TABLES}
    )
    born: dict[str, dict[Key, str]] = field(default_factory=lambda: {t.map: {} for t in TABLES})
    deleted: dict[str, set[Key]] = field(default_factory=lambda: {t.map: set() for t in TABLES})
    guids: dict[str, dict[Key, str]] = field(default_factory=lambda: {t.map: {} for t in TABLES})
    forbidden: dict[str, Key] = field(default_factory=dict)  # crm guid -> product key

    def put(self, t: Table, key: Key, values: Values, born: str | None = None) -> None:
        self.records[t.map].setdefault(key, {}).update(values)
        if born is not None:
            self.born[t.map].setdefault(key, born)

    def live(self, t: Table) -> list[Key]:
        return sorted(set(self.records[t.map]) - self.deleted[t.map])

    def expected(self, t: Table) -> dict[Key, Values]:
        return {k: v for k, v in self.records[t.map].items() if k not in self.deleted[t.map]}


# -- the state store -------------------------------------------------------------------


def link_ids(state: Path, t: Table, key: Key) -> tuple[str, str] | None:
    """(F&O id, Dataverse GUID) of a linked record, None while it is not linked."""
    if not state.exists():
        return None
    rows = query(
        state,
        "SELECT id0, id1 FROM links WHERE map = ? AND key = ? "
        "AND id0 IS NOT NULL AND id1 IS NOT NULL",
        (t.map, encode_key(key)),
    )
    return (str(rows[0][0]), str(rows[0][1])) if rows else None


def fno_head(fno: Path) -> int:
    """The F&O file's newest change sequence (every write to it, ours too, adds one)."""
    sql = "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = '_replicator_changes'"
    return int(scalar(fno, sql) or 0)


# -- reading both sides in the model's terms --------------------------------------------


def fno_records(fno: Path, t: Table) -> list[tuple[Key, Values]]:
    """Every row of the map's F&O table: (key, mapped values)."""
    names = [f for f, _ in t.fields]
    cols = ", ".join(f'"{c}"' for c in ["dataAreaId", t.number[0], *names])
    return [
        ((r[0], r[1]), dict(zip(names, r[2:], strict=True)))
        for r in query(fno, f'SELECT {cols} FROM "{t.fno}"')
    ]


class CrmReader:
    """Dataverse rows in the model's terms: company and group GUIDs become their codes."""

    def __init__(self, user: User) -> None:
        self.user = user
        rows = user.rows("cdm_companies", "cdm_companyid,cdm_companycode")
        self.companies = {r["cdm_companyid"]: r["cdm_companycode"] for r in rows}
        self.company_ids = {code: guid for guid, code in self.companies.items()}

    def records(self, t: Table) -> list[tuple[str, Key, Values]]:
        """Every row of the map's table: (GUID, key, mapped values)."""
        groups = self._group_numbers() if t is CUSTOMERS else {}
        wire = {crm: _wire(crm) for _, crm in t.fields}
        select = ",".join([t.crm_id, "_msdyn_company_value", t.number[1], *wire.values()])
        out = []
        for row in self.user.rows(t.crm, select):
            values = {fno: self._value(crm, row[wire[crm]], groups) for fno, crm in t.fields}
            key = (self.companies.get(row["_msdyn_company_value"], "?"), row[t.number[1]])
            out.append((row[t.crm_id], key, values))
        return out

    def _group_numbers(self) -> dict[str, str]:
        return {
            r["msdyn_customergroupid"]: r["msdyn_groupid"]
            for r in self.user.rows("msdyn_customergroups", "msdyn_customergroupid,msdyn_groupid")
        }

    @staticmethod
    def _value(column: str, value: Any, groups: Mapping[str, str]) -> Any:
        if column == "msdyn_customergroupid" and value is not None:
            return groups.get(value, f"? {value}")
        if column == "msdyn_creditlimitismandatory" and value is not None:
            return NOYES[value]
        return value

    def body(self, t: Table, key: Key, values: Values, group_guid: str | None = None) -> Values:
        """A Web API create body for a record of the model."""
        out: Values = {
            "msdyn_company@odata.bind": f"/cdm_companies({self.company_ids[key[0]]})",
            t.number[1]: key[1],
        }
        for name, value in values.items():
            out.update(crm_values(t, name, value, group_guid))
        return out


def crm_values(t: Table, name: str, value: Any, group_guid: str | None = None) -> Values:
    """One model field as Web API body properties."""
    column = t.crm_column(name)
    if column == "msdyn_customergroupid":
        if group_guid is None:
            return {}
        return {"msdyn_customergroupid@odata.bind": f"/msdyn_customergroups({group_guid})"}
    if column == "msdyn_creditlimitismandatory":
        return {column: None if value is None else value == "Yes"}
    return {column: value}


def _wire(column: str) -> str:
    return f"_{column}_value" if column == "msdyn_customergroupid" else column


# -- the checks ------------------------------------------------------------------------


def disagreements(fno: Path, crm: CrmReader, model: Model) -> list[str]:
    """Where either side differs from the model (missing, extra, twice, other values)."""
    problems: list[str] = []
    for t in TABLES:
        expected = model.expected(t)
        crm_rows = [(k, v) for guid, k, v in crm.records(t) if guid not in model.forbidden]
        for side, found in (("fno", fno_records(fno, t)), ("crm", crm_rows)):
            problems += _compare(f"{t.map} on {side}", found, expected)
    return problems


def _compare(where: str, found: list[tuple[Key, Values]], expected: dict[Key, Values]) -> list[str]:
    keys = [k for k, _ in found]
    twice = sorted({k for k in keys if keys.count(k) > 1}) if len(set(keys)) < len(keys) else []
    problems = [f"{where}: {len(twice)} keys held twice: {twice[:3]}"] if twice else []
    missing, extra = sorted(set(expected) - set(keys)), sorted(set(keys) - set(expected))
    if missing:
        problems.append(f"{where}: {len(missing)} missing: {missing[:3]}")
    if extra:
        problems.append(f"{where}: {len(extra)} unexpected: {extra[:3]}")
    wrong = [
        (key, {c: (got.get(c), v) for c, v in expected[key].items() if got.get(c) != v})
        for key, got in found
        if key in expected and any(got.get(c) != v for c, v in expected[key].items())
    ]
    if wrong:
        problems.append(f"{where}: {len(wrong)} differ, (found, expected): {wrong[:3]}")
    return problems
