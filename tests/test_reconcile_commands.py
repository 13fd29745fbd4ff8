"""``replicator reconcile`` standalone on SQLite sides, and ``POST /api/reconcile`` of a
running engine: the same passes, reached the ways an operator does."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import anyio
import pytest
import structlog.testing

from http_endpoint import FNO, MAPS, OPEN_HTTP, customer, served, sides
from replicator import cli
from replicator.engine import Replicator

pytestmark = pytest.mark.anyio

CONFIG = """
[state]
path = "state.db"
[sides.fno]
adapter = "sqlite"
path = "fno.db"
[sides.crm]
adapter = "sqlite"
path = "crm.db"
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "Name", crm = "name" } ]
"""


def sql(path: Path, *statements: str) -> list[tuple[object, ...]]:
    """Run statements on a database; the rows of the last."""
    with closing(sqlite3.connect(path)) as db, db:
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            rows = db.execute(statement).fetchall()
        return rows


def main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(args))
    return code, capsys.readouterr().out


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)


def test_reconcile_without_a_daemon_replays_a_change_the_feed_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An F&O edit whose change row is gone from the feed reaches crm through
    ``replicator reconcile``, which prints what each pass did."""
    fno, crm = tmp_path / "fno.db", tmp_path / "crm.db"
    sql(
        fno, "CREATE TABLE CustomersV3 (RecId INTEGER PRIMARY KEY, CustomerAccount TEXT, Name TEXT)"
    )
    sql(crm, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, accountnumber TEXT, name TEXT)")
    sql(fno, "INSERT INTO CustomersV3 (CustomerAccount, Name) VALUES ('A', 'Alpha'), ('B', 'Beta')")
    config = tmp_path / "replicator.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with structlog.testing.capture_logs():
        assert main(capsys, "sync", "--config", str(config))[0] == 0
        sql(
            fno,
            "UPDATE CustomersV3 SET Name = 'Beta 2' WHERE CustomerAccount = 'B'",
            "DELETE FROM _replicator_changes",  # the change is lost
        )
        code, out = main(capsys, "reconcile", "--config", str(config))
    assert code == 0
    assert sql(crm, "SELECT accountnumber, name FROM accounts ORDER BY 1") == [
        ("A", "Alpha"),
        ("B", "Beta 2"),
    ]
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["map", "side", "scanned", "replayed", "deleted", "seconds", "result"]
    assert [(w[0], w[1], w[2], w[3], w[4], w[-1]) for w in lines[2:]] == [
        ("customers", "fno", "2", "1", "0", "ok"),
        ("customers", "crm", "2", "0", "0", "ok"),
    ]


def test_reconcile_of_an_unknown_map_is_bad_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--map`` naming no map exits 2, naming it."""
    config = tmp_path / "replicator.toml"
    config.write_text(CONFIG, encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["reconcile", "--config", str(config), "--map", "nosuch"]) == 2
    assert "no map named 'nosuch'" in capsys.readouterr().err


async def test_api_reconcile_runs_the_passes_of_the_running_engine(tmp_path: Path) -> None:
    """``POST /api/reconcile`` answers each pass; a lost create is applied, a bad body 400."""
    cfg = tmp_path / "replicator.toml"
    cfg.write_text(
        '[state]\npath = "state.db"\n\n[sides.fno]\nadapter = "memory"\n\n'
        '[sides.crm]\nadapter = "memory"\n\n' + OPEN_HTTP + MAPS,
        encoding="utf-8",
    )
    fno, crm = sides()
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        fno.lose_changes(1.0)
        fno.insert(FNO, customer("C1"))
        fno.lose_changes(0)
        async with served(rep) as http:
            answer = (await http.post("/api/reconcile", json={"maps": ["customers"]})).json()
            bad = await http.post("/api/reconcile", json={"map": "customers"})
            unknown = await http.post("/api/reconcile", json={"maps": ["nosuch"]})
        with anyio.fail_after(10):
            await rep.wait_idle()
    passes = [(p["side"], p["scanned"], p["replayed"]) for p in answer["passes"]]
    assert passes == [("fno", 1, 1), ("crm", 0, 0)]
    assert [v["accountnumber"] for v in crm.rows("accounts").values()] == ["C1"]
    assert bad.status_code == 400 and "maps" in bad.json()["error"]
    assert unknown.status_code == 400 and "nosuch" in unknown.json()["error"]
