"""One owner per state store: a second daemon, sync or ``Replicator`` is refused naming the
holder; a crashed owner's lock is taken over at once; control commands still reach it."""

from __future__ import annotations

import os
import re
import signal
import socket
from pathlib import Path

import anyio
import msgspec
import pytest
import structlog.testing

from adapters.memory import MemorySide
from conftest import NAME_PHONE_MAP
from conftest import write_config as memory_config
from daemon import Daemon, cli, create_db, execute, wait_rows, write_config
from replicator.engine import Replicator
from replicator.errors import StoreOwned
from replicator.ownership import Holder, holder, lock_path

ISO_8601 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"
FNO_SCHEMA = "CREATE TABLE customers (id INTEGER PRIMARY KEY, account TEXT, name TEXT);"
CRM_SCHEMA = "CREATE TABLE accounts (id INTEGER PRIMARY KEY, accountnumber TEXT, name TEXT);"
MAP = """
[[maps]]
name = "customers"
fno = "customers"
crm = "accounts"
key = [{ fno = "account", crm = "accountnumber" }]
fields = [{ fno = "name", crm = "name" }]
"""
CRM_ROWS = "SELECT accountnumber, name FROM accounts ORDER BY accountnumber"


def insert_and_see_it_arrive(folder: Path) -> None:
    """The daemon replicates: a row inserted on fno arrives on crm."""
    execute(folder / "fno.db", "INSERT INTO customers (account, name) VALUES ('F1', 'a')")
    wait_rows(folder / "crm.db", CRM_ROWS, [("F1", "a")])


def assert_names(message: str, pid: int) -> None:
    """``message`` names the holder: its pid, this host, and since when (ISO 8601)."""
    assert f"pid {pid} on {socket.gethostname()}, since " in message, message
    assert re.search(f"since {ISO_8601}", message), message


# -- in one process ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_second_replicator_on_one_store_is_refused_naming_the_first(
    tmp_path: Path,
) -> None:
    """Two ``Replicator`` objects of one process on one store: the second is refused before
    it touches a side, naming the first; once the first is gone the store is free again."""
    cfg = memory_config(tmp_path, NAME_PHONE_MAP)
    first_sides = {"fno": MemorySide("fno"), "crm": MemorySide("crm")}
    second_sides = {"fno": MemorySide("fno"), "crm": MemorySide("crm")}
    async with Replicator(cfg, sides=first_sides):
        with anyio.fail_after(10), pytest.raises(StoreOwned) as caught:
            async with Replicator(cfg, sides=second_sides):
                pass
        assert_names(str(caught.value), os.getpid())
        assert str(tmp_path / "state.db") in str(caught.value)
        assert second_sides["fno"].rows("CustomersV3") == {}  # never prepared
    assert holder(tmp_path / "state.db") is None
    async with Replicator(cfg, sides=second_sides):
        owner = holder(tmp_path / "state.db")
        assert owner is not None and (owner.pid, owner.live) == (os.getpid(), True)


@pytest.mark.anyio
async def test_a_lock_file_left_by_a_dead_owner_is_taken_over(tmp_path: Path) -> None:
    """The record a killed owner left in the lock file holds no lock: the next owner takes
    the store at once, overwrites the record and logs whose it was."""
    cfg = memory_config(tmp_path, NAME_PHONE_MAP)
    dead = Holder(pid=999_999, host="gone", since="2026-01-01T00:00:00+00:00", live=True)
    lock_path(tmp_path / "state.db").write_bytes(msgspec.json.encode(dead))
    sides = {"fno": MemorySide("fno"), "crm": MemorySide("crm")}
    with structlog.testing.capture_logs() as logs, anyio.fail_after(10):
        async with Replicator(cfg, sides=sides):
            owner = holder(tmp_path / "state.db")
            assert owner is not None and owner.pid == os.getpid()
    (taken,) = [e for e in logs if e["event"] == "state_store_taken_over"]
    assert (taken["previous_pid"], taken["previous_host"]) == (dead.pid, dead.host)


# -- daemons as processes -----------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    create_db(tmp_path / "fno.db", FNO_SCHEMA)
    create_db(tmp_path / "crm.db", CRM_SCHEMA)
    return write_config(tmp_path, MAP)


@pytest.mark.slow
def test_a_second_daemon_and_a_sync_are_refused_naming_the_running_one(config: Path) -> None:
    """``run`` and ``sync`` on the config of a running daemon exit 1 naming it (pid, host,
    since); ``status`` names it too, and the first daemon goes on undisturbed."""
    with Daemon(config) as first:
        first.start()
        assert first.proc is not None
        for command in ("run", "sync"):
            done = cli(command, "--config", str(config))
            assert done.returncode == 1, done.stderr
            assert done.stderr.startswith("error: state store "), done.stderr
            assert_names(done.stderr, first.proc.pid)
        status = cli("status", "--config", str(config))
        assert f"daemon: running (pid {first.proc.pid} on " in status.stdout
        insert_and_see_it_arrive(config.parent)
        assert first.stop() == 0


@pytest.mark.slow
def test_kill_9_then_an_immediate_restart_takes_the_store_over(config: Path) -> None:
    """A daemon killed with SIGKILL leaves its lock to the kernel: a restart right away owns
    the store (and a third daemon is refused naming the new one, not the dead one)."""
    with Daemon(config) as daemon:
        daemon.start()
        assert daemon.proc is not None
        dead = daemon.proc.pid
        daemon.stop(signal.SIGKILL)
        daemon.start()
        assert daemon.wait_event("state_store_taken_over")["previous_pid"] == dead
        done = cli("run", "--config", str(config))
        assert done.returncode == 1 and f"pid {daemon.proc.pid} on " in done.stderr
        insert_and_see_it_arrive(config.parent)
        assert daemon.stop() == 0
