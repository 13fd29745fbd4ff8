"""The engine and its state store: another process's lock is waited out, an unusable store
is refused at once, and the files holding the users' data are private to their owner."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import anyio
import pytest
import structlog.testing

from adapters.memory import MemorySide
from conftest import NAME_PHONE_MAP, until, write_config
from daemon import cli, replicator_argv
from replicator import files, store_db
from replicator.engine import Replicator
from replicator.ownership import holder, lock_path

IDLE_TIMEOUT_S = 10.0
FNO, CRM = "CustomersV3", "accounts"


def names(side: MemorySide, entity: str, key: str, field: str) -> dict[str, str]:
    return {v[key]: v[field] for v in side.rows(entity).values()}


async def idle(rep: Replicator) -> None:
    with anyio.fail_after(IDLE_TIMEOUT_S):
        await rep.wait_idle()


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite waits 50 ms for another process's lock (10 s in production)."""
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 50)


# -- another process holds the store locked ---------------------------------------------------


@pytest.mark.anyio
@pytest.mark.usefixtures("short_busy_timeout")
async def test_a_store_locked_elsewhere_beyond_the_busy_timeout_is_waited_out(
    tmp_path: Path,
) -> None:
    """Another process holding the store's write lock longer than the busy timeout stalls
    the engine, which says so (logs, ``status``) and carries on once it is released: every
    change arrives (before, the daemon died with a traceback)."""
    cfg, state = write_config(tmp_path, NAME_PHONE_MAP), tmp_path / "state.db"
    fno, crm = MemorySide("fno"), MemorySide("crm")
    with structlog.testing.capture_logs() as logs:
        async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
            fno.insert(FNO, {"CustomerAccount": "C1", "Name": "before"})
            await idle(rep)
            with closing(sqlite3.connect(state, isolation_level=None)) as other:
                other.execute("BEGIN IMMEDIATE")  # an operator's sqlite3 shell, a backup
                fno.insert(FNO, {"CustomerAccount": "C2", "Name": "while locked"})
                await until(lambda: rep.ctx.store.db.locked_since is not None)
                assert (await rep.status())["store_locked_since"] is not None
                shown = await anyio.run_process(replicator_argv("status", "--config", str(cfg)))
                other.execute("ROLLBACK")
            await idle(rep)
            assert names(crm, CRM, "accountnumber", "name") == {
                "C1": "before",
                "C2": "while locked",
            }
            assert rep.ctx.store.db.locked_since is None
            owner = holder(state)
            assert owner is not None and owner.store_locked_since is None
    out = shown.stdout.decode()
    assert "daemon: running" in out and "state store: locked by another process since" in out
    events = [e["event"] for e in logs if e["event"].startswith("state_store_")]
    assert events == ["state_store_locked", "state_store_unlocked"]


# -- a store that cannot be used --------------------------------------------------------------


def shm_is_a_folder(state: Path) -> None:
    state.touch()
    Path(f"{state}-shm").mkdir()


def not_a_database(state: Path) -> None:
    state.write_bytes(bytes(range(256)) * 16)


UNUSABLE: dict[str, Callable[[Path], None]] = {
    "its -shm is a folder": shm_is_a_folder,
    "it is a folder": Path.mkdir,
    "it is not a database": not_a_database,
}


@pytest.mark.slow
@pytest.mark.parametrize("command", ["status", "run"])
@pytest.mark.parametrize("case", list(UNUSABLE))
def test_status_and_run_exit_at_once_on_a_store_they_cannot_use(
    tmp_path: Path, command: str, case: str
) -> None:
    """``status`` and ``run`` on a state store they cannot write exit 1 at once naming it
    (before, the process hung on the connection's thread until killed)."""
    cfg, state = write_config(tmp_path, NAME_PHONE_MAP), tmp_path / "state.db"
    UNUSABLE[case](state)
    done = cli(command, "--config", str(cfg), timeout=60)
    assert done.returncode == 1, done.stderr
    assert f"error: state store {state}" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_run_exits_at_once_when_the_stores_folder_is_a_file(tmp_path: Path) -> None:
    """A ``[state] path`` whose folder is a regular file fails ``run`` at once, naming it."""
    cfg = write_config(tmp_path, NAME_PHONE_MAP)
    cfg.write_text(cfg.read_text().replace('"state.db"', '"blocker/state.db"', 1))
    (tmp_path / "blocker").write_text("not a folder")
    done = cli("run", "--config", str(cfg), timeout=60)
    assert done.returncode == 1, done.stderr
    assert f"error: state store {tmp_path / 'blocker' / 'state.db'}" in done.stderr


def as_a_user(*args: str) -> subprocess.CompletedProcess[str]:
    """``replicator ARGS`` with file permissions enforced: as root, without the capabilities
    that let root write read-only files (``setpriv``)."""
    argv = replicator_argv(*args)
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permissions cannot be enforced")
        argv = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("read_only", ["file", "folder"])
def test_status_and_run_exit_at_once_without_write_permission(
    tmp_path: Path, read_only: str
) -> None:
    """A user without write permission on the store (or its folder) gets the message at once
    (before, ``status`` and ``run`` hung)."""
    folder = tmp_path / "data"
    folder.mkdir()
    cfg = write_config(folder, NAME_PHONE_MAP)
    sqlite3.connect(folder / "state.db").close()
    (folder / "state.db" if read_only == "file" else folder).chmod(0o500)
    try:
        for command in ("status", "run"):
            done = as_a_user(command, "--config", str(cfg))
            assert done.returncode == 1, done.stderr
            assert f"error: state store {folder / 'state.db'}" in done.stderr, done.stderr
            assert "may write" in done.stderr
    finally:
        folder.chmod(0o700)


# -- private files ----------------------------------------------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which files are created world-readable by default."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_every_folder_replicator_creates_for_the_store_is_private(tmp_path: Path) -> None:
    """Missing parent folders are created 0700 too, not only the last one (before: 0755)."""
    files.private_dir(tmp_path / "var" / "lib" / "replicator")
    created = [tmp_path / "var", tmp_path / "var" / "lib", tmp_path / "var" / "lib" / "replicator"]
    assert [mode(f) for f in created] == [0o700, 0o700, 0o700]


@pytest.mark.anyio
@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("folder", ["new", "existing"])
async def test_a_new_state_store_and_its_files_are_private(tmp_path: Path, folder: str) -> None:
    """The store (a copy of every mapped field), its -wal, -shm and lock file are created
    0600, and a folder replicator creates for it 0700 (before: 0644, and no folder)."""
    cfg = write_config(tmp_path, NAME_PHONE_MAP)
    cfg.write_text(cfg.read_text().replace('"state.db"', '"var/state.db"', 1))
    if folder == "existing":
        (tmp_path / "var").mkdir()
    state = tmp_path / "var" / "state.db"
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        fno.insert(FNO, {"CustomerAccount": "C1", "Name": "Contoso"})
        await idle(rep)
        files = [state, Path(f"{state}-wal"), Path(f"{state}-shm"), lock_path(state)]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(state.parent) == (0o700 if folder == "new" else 0o755)
