"""A ``companies`` entry that matches no row on either side is reported, not silently empty.

``replicator validate`` (with the sides reachable) refuses it; the daemon warns at start.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapters.memory import MemorySide
from conftest import COMPANY_CUSTOMERS_MAP
from conftest import write_config as write_memory_config
from daemon import create_db, write_config
from replicator import cli
from replicator.engine import Replicator

SCHEMA = {
    "fno.db": "CREATE TABLE CustomersV3 (dataAreaId TEXT, CustomerAccount TEXT, Name TEXT,"
    " CreditLimit REAL, PRIMARY KEY (dataAreaId, CustomerAccount));"
    " INSERT INTO CustomersV3 VALUES ('usmf', 'C1', 'a', 10), ('usrt', 'C2', 'b', 0);",
    "crm.db": "CREATE TABLE accounts (id INTEGER PRIMARY KEY, company TEXT,"
    " accountnumber TEXT, name TEXT, creditlimit REAL);"
    " INSERT INTO accounts (company, accountnumber) VALUES ('demf', 'C3');",
}


def validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *lines: str) -> int:
    """``replicator validate`` of the company customers map on two SQLite files, plus ``lines``."""
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)
    for name, schema in SCHEMA.items():
        create_db(tmp_path / name, schema)
    config = write_config(tmp_path, COMPANY_CUSTOMERS_MAP + "\n".join(lines) + "\n")
    return cli.main(["validate", "--config", str(config)])


def test_validate_refuses_a_company_no_row_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """'usfm' (a typo) is on neither side: validate exits 2 naming map, company and fields;
    'usmf' (on fno only) and 'demf' (on crm only) are fine."""
    assert validate(tmp_path, monkeypatch, 'companies = ["usmf", "usfm", "demf"]') == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: replicator.toml: map 'customers', companies: 'usfm' matches no row of "
        "CustomersV3.dataAreaId on 'fno' nor accounts.company on 'crm' "
        "(codes compare exactly; add a company once it has rows)"
    ]


def test_validate_counts_only_rows_that_pass_the_filter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """usrt's only row is outside the map's filter, so no record of usrt would take part."""
    lines = ('companies = ["usmf", "usrt"]', 'filter = { fno = "CreditLimit > 0" }')
    assert validate(tmp_path, monkeypatch, *lines) == 2
    assert "companies: 'usrt' matches no row" in capsys.readouterr().err


def test_validate_accepts_companies_that_rows_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every company held by a row of one side or the other: validate says ok."""
    assert validate(tmp_path, monkeypatch, 'companies = ["usmf", "usrt", "demf"]') == 0
    assert "ok" in capsys.readouterr().out


@pytest.mark.anyio
async def test_daemon_warns_of_a_company_no_row_holds(tmp_path: Path) -> None:
    """At start the daemon logs ``companies_match_no_row`` for 'xxxx' only: 'usrt' is on fno,
    and 'usmf' is on crm, written 'USMF' through the key's value map."""
    value_map = '[value_maps.company]\n"usmf" = "USMF"\n\n'
    body = COMPANY_CUSTOMERS_MAP.replace(
        '{ fno = "dataAreaId", crm = "company" }',
        '{ fno = "dataAreaId", crm = "company", value_map = "company" }',
    )
    config = write_memory_config(
        tmp_path, value_map + body + 'companies = ["usmf", "usrt", "xxxx"]\n'
    )
    fno, crm = MemorySide("fno"), MemorySide("crm")
    fno.insert("CustomersV3", {"dataAreaId": "usrt", "CustomerAccount": "C1"})
    crm.insert("accounts", {"company": "USMF", "accountnumber": "C2"})
    with capture_logs() as logs:
        async with Replicator(config, sides={"fno": fno, "crm": crm}, live=False):
            pass
    warned = [e for e in logs if e["event"] == "companies_match_no_row"]
    assert [(e["map"], e["companies"]) for e in warned] == [("customers", ["xxxx"])]
