"""What the SQLite side refuses before it is used: filters that are not one expression,
the replicator's and SQLite's own tables, files that are not databases; and that
checking (``replicator validate``) writes nothing to a side."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_faults import SQLITE_CRM, SQLITE_FNO

from adapters.sqlite import create_side
from conftest import COMPANY_CUSTOMERS_MAP
from daemon import cli, create_db, write_config
from replicator.adapter import EntitySpec
from replicator.errors import SchemaError

pytestmark = pytest.mark.anyio

CUSTOMERS = EntitySpec("CustomersV3", ("Name",), ("dataAreaId", "CustomerAccount"))


async def check(tmp_path: Path, spec: EntitySpec) -> str:
    """The SchemaError message of checking ``spec`` on a fresh fno.db."""
    create_db(tmp_path / "fno.db", SQLITE_FNO)
    side = create_side("fno", {"path": "fno.db"}, tmp_path)
    await side.open()
    try:
        with pytest.raises(SchemaError) as raised:
            await side.check([spec])
    finally:
        await side.close()
    return str(raised.value)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1) OR (1", "closes a parenthesis it did not open"),
        ("1) --", "closes a parenthesis it did not open"),
        ("1 --", "comment"),
        ("1 /* x */", "comment"),
        ("1; DROP TABLE CustomersV3", "';'"),
        ("(1", "not closed"),
        ("Name = 'x", "not closed"),
    ],
)
async def test_a_filter_that_is_not_one_expression_is_refused(
    tmp_path: Path, text: str, why: str
) -> None:
    """A filter that could escape its parentheses is refused, naming side, entity and filter."""
    spec = EntitySpec(CUSTOMERS.entity, CUSTOMERS.fields, CUSTOMERS.key_fields, text)
    message = await check(tmp_path, spec)
    assert "'fno'" in message and "'CustomersV3'" in message and repr(text) in message
    assert "not one SQL expression" in message and why in message


async def test_a_filter_with_parentheses_and_quoted_symbols_is_accepted(tmp_path: Path) -> None:
    """Balanced parentheses, and ``;``, ``--`` or ``)`` inside quotes, are one expression."""
    create_db(tmp_path / "fno.db", SQLITE_FNO)
    side = create_side("fno", {"path": "fno.db"}, tmp_path)
    await side.open()
    try:
        text = "(Name <> 'a; -- )') AND (\"CreditLimit\" > (0))"
        spec = EntitySpec(CUSTOMERS.entity, CUSTOMERS.fields, CUSTOMERS.key_fields, text)
        await side.check([spec])
    finally:
        await side.close()


@pytest.mark.parametrize("entity", ["_replicator_changes", "sqlite_sequence", "SQLITE_master"])
async def test_a_map_onto_an_own_table_is_refused(tmp_path: Path, entity: str) -> None:
    """The replicator's and SQLite's own tables cannot be mapped."""
    message = await check(tmp_path, EntitySpec(entity, ("seq",), ("name",)))
    assert "'fno'" in message and repr(entity) in message and "own table" in message


def sides_config(tmp_path: Path, maps: str = COMPANY_CUSTOMERS_MAP) -> Path:
    create_db(tmp_path / "fno.db", SQLITE_FNO)
    create_db(tmp_path / "crm.db", SQLITE_CRM)
    return write_config(tmp_path, maps)


def test_validate_refuses_a_filter_that_escapes_its_parentheses(tmp_path: Path) -> None:
    """``validate`` exits 2 for ``1) OR (1``, naming the map and the filter."""
    maps = COMPANY_CUSTOMERS_MAP + 'filter = { fno = "1) OR (1" }\n'
    done = cli("validate", "--config", str(sides_config(tmp_path, maps)))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "map 'customers'" in done.stderr and "'1) OR (1'" in done.stderr


def test_validate_fails_for_a_side_file_that_is_not_a_database(tmp_path: Path) -> None:
    """``validate`` exits 2 when a side file holds random bytes, naming the side."""
    cfg = sides_config(tmp_path)
    (tmp_path / "crm.db").write_bytes(os.urandom(8192))
    done = cli("validate", "--config", str(cfg))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "[sides.crm]" in done.stderr and "not a database" in done.stderr


def test_validate_writes_nothing_to_a_side(tmp_path: Path) -> None:
    """``validate`` leaves an empty side file empty (no WAL database made of it)."""
    cfg = sides_config(tmp_path)
    (tmp_path / "crm.db").unlink()
    (tmp_path / "crm.db").write_bytes(b"")
    before = (tmp_path / "fno.db").read_bytes()
    done = cli("validate", "--config", str(cfg))
    assert done.returncode == 2  # crm has no accounts table
    assert (tmp_path / "crm.db").read_bytes() == b""
    assert (tmp_path / "fno.db").read_bytes() == before
    assert not (tmp_path / "crm.db-wal").exists() and not (tmp_path / "fno.db-wal").exists()
