"""``replicator reconcile`` standalone on SQLite sides, ``POST /api/reconcile`` of a
running engine, and ``RemoteOperations`` (the CLI's way to a running daemon) over that
endpoint: the same passes, reached the ways an operator does."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import anyio
import pytest
import structlog.testing

from adapters.memory import MemorySide
from http_endpoint import CRM, FNO, MAPS, OPEN_HTTP, customer, served, sides
from replicator import cli
from replicator.engine import Replicator
from replicator.errors import ConfigError
from replicator.http.client import RemoteOperations, operations_for

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
    # crm's pass scans 0 rows, or 1 if the create fno's pass replayed reached crm first:
    # that row is then linked, and nothing is replayed either way
    assert passes[0] == ("fno", 1, 1) and passes[1] in (("crm", 0, 0), ("crm", 1, 0))
    assert [v["accountnumber"] for v in crm.rows("accounts").values()] == ["C1"]
    assert bad.status_code == 400 and "maps" in bad.json()["error"]
    assert unknown.status_code == 400 and "nosuch" in unknown.json()["error"]


# -- through the CLI's way to a running daemon: ``RemoteOperations`` over real HTTP -------


def memory_config(tmp_path: Path) -> Path:
    """Two memory sides and the customers map, with an open endpoint on loopback."""
    cfg = tmp_path / "replicator.toml"
    cfg.write_text(
        '[state]\npath = "state.db"\n\n[sides.fno]\nadapter = "memory"\n\n'
        '[sides.crm]\nadapter = "memory"\n\n' + OPEN_HTTP + MAPS,
        encoding="utf-8",
    )
    return cfg


def crm_id(crm: MemorySide, account: str) -> str:
    return next(n for n, v in crm.rows(CRM).items() if v["accountnumber"] == account)


def drift(crm: MemorySide) -> None:
    """crm renames C1, deletes C2 and creates C3, its feed losing all three changes."""
    crm.lose_changes(1.0)
    crm.update(CRM, crm_id(crm, "C1"), {"name": "Contoso 2"})
    crm.delete(CRM, crm_id(crm, "C2"))
    crm.insert(CRM, {"company": "usmf", "accountnumber": "C3", "name": "Fabrikam"})
    crm.lose_changes(0)


def figures(report: dict[str, object]) -> dict[str, object]:
    """A pass's report without its duration."""
    return {k: v for k, v in report.items() if k != "seconds"}


async def test_remote_reconcile_runs_the_daemons_passes_and_answers_their_figures(
    tmp_path: Path,
) -> None:
    """``RemoteOperations.reconcile`` (what ``replicator reconcile`` uses while a daemon
    runs) has the daemon pass over both sides through ``POST /api/reconcile`` and returns
    each pass's figures; the edit, create and delete crm's feed lost reach fno."""
    fno, crm = sides()
    async with Replicator(memory_config(tmp_path), sides={"fno": fno, "crm": crm}) as rep:
        fno.insert(FNO, customer("C1"))
        fno.insert(FNO, customer("C2"))
        await idle(rep)
        drift(crm)
        async with served(rep), operations_for(rep.config) as ops:
            assert isinstance(ops, RemoteOperations)
            passes = await ops.reconcile(["customers"])
        await idle(rep)
        assert await rep.ctx.store.errors() == []
    ran = {"map": "customers", "complete": True, "pages": 1, "skipped": False, "reason": ""}
    assert [figures(p) for p in passes] == [
        {**ran, "side": "fno", "scanned": 2, "replayed": 0, "deleted": 0, "requests": 1},
        # one scan page, and the get that confirms C2 is gone
        {**ran, "side": "crm", "scanned": 2, "replayed": 2, "deleted": 1, "requests": 2},
    ]
    assert {v["CustomerAccount"]: v["Name"] for v in fno.rows(FNO).values()} == {
        "C1": "Contoso 2",
        "C3": "Fabrikam",
    }


async def test_remote_reconcile_of_an_unknown_map_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A map the daemon's config does not name: ``ConfigError`` with the config's line, as
    without a daemon, and no pass runs (not even over the maps that exist); the CLI prints
    it and exits 2."""
    fno, crm = sides()
    async with Replicator(memory_config(tmp_path), sides={"fno": fno, "crm": crm}) as rep:
        fno.insert(FNO, customer("C1"))
        await idle(rep)
        c1 = crm_id(crm, "C1")
        crm.lose_changes(1.0)
        crm.update(CRM, c1, {"name": "Contoso 2"})
        crm.lose_changes(0)
        async with served(rep), operations_for(rep.config) as ops:
            assert isinstance(ops, RemoteOperations)
            with structlog.testing.capture_logs() as logs, pytest.raises(ConfigError) as refused:
                await ops.reconcile(["customers", "nosuch"])
            code, _, err = await anyio.to_thread.run_sync(
                lambda: run_cli(
                    capsys, "reconcile", "--config", str(rep.config.path), "--map", "nosuch"
                )
            )
        await idle(rep)
    assert refused.value.problems == ["replicator.toml: no map named 'nosuch'"]
    assert not [e for e in logs if e["event"] == "reconcile_started"]
    assert [v["Name"] for v in fno.rows(FNO).values()] == ["Contoso"]  # nothing replayed
    assert (code, err) == (2, "error: replicator.toml: no map named 'nosuch'\n")


async def test_remote_reconcile_answers_a_failed_pass_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A side that cannot be scanned fails its pass, not the request: the pass comes back
    with the side's reason and infers no delete; the CLI prints it and exits 1."""
    fno, crm = sides()
    async with Replicator(memory_config(tmp_path), sides={"fno": fno, "crm": crm}) as rep:
        fno.insert(FNO, customer("C1"))
        await idle(rep)
        async with served(rep), operations_for(rep.config) as ops:
            crm.down = True
            passes = await ops.reconcile(None)
            code, out, _ = await anyio.to_thread.run_sync(
                lambda: run_cli(capsys, "reconcile", "--config", str(rep.config.path))
            )
            crm.down = False
        await idle(rep)
    down = "side 'crm' is down (memory outage fault)"
    assert [(p["side"], p["complete"], p["deleted"], p["reason"]) for p in passes] == [
        ("fno", True, 0, ""),
        ("crm", False, 0, down),
    ]
    assert code == 1
    assert out.splitlines()[-1].split()[:2] == ["customers", "crm"] and down in out


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``replicator ARGS`` in-process (from a worker thread, beside the running engine, as
    another process would): exit code, stdout, stderr."""
    capsys.readouterr()
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def idle(rep: Replicator) -> None:
    with anyio.fail_after(10):
        await rep.wait_idle()
