"""What the live benchmark measures, each in a process of its own: the daemon
(``replicator run``), the naive script (bench/naive_sync.py) and a timed initial sync
(bench/_sync_once.py), and how to tell that each is ready.

The daemon is ready once it runs live (it owns the state store as a daemon and has synced
its maps) and quiet
(its journal is empty and its cursors are at the head of both sides' change feeds, twice
in a row), so its own initial sync and the echoes of it are behind it. The naive script
is ready once it reported its first pass.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import IO, Any

import _common as c

BENCH = Path(__file__).resolve().parent
READY_S = 600.0  # a start (with its initial sync) that takes longer: failed
READY_POLL_S = 0.02
SETTLE_S = 0.05


class Child:
    """A child process whose stdout and stderr go to ``log``; killed if left running."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        self._out: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def status_kb(self, field: str) -> int:
        """``VmRSS``, ``VmHWM``... of the running process, from ``/proc``, in kB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def cpu_s(self) -> float:
        """CPU seconds (user and system) the running process used so far."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.log.name}: exited {self.proc.returncode}\n{self.output()}")

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM, wait for the exit (SIGKILL after ``timeout``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


def daemon(folder: Path) -> Child:
    """``replicator run --config bench.toml`` in ``folder``, logging warnings only."""
    entry = "from replicator.cli import main; raise SystemExit(main())"
    argv = [sys.executable, "-c", entry, "--log-format", "json", "--log-level", "warning"]
    return Child([*argv, "run", "--config", str(folder / "bench.toml")], folder / "daemon.log")


def naive(folder: Path) -> Child:
    """``bench/naive_sync.py fno.db crm.db`` for the sides in ``folder``."""
    argv = [sys.executable, str(BENCH / "naive_sync.py"), str(folder / "fno.db")]
    return Child([*argv, str(folder / "crm.db")], folder / "naive.log")


def timed_sync(folder: Path) -> dict[str, Any]:
    """The initial sync of ``folder`` in a child process (bench/_sync_once.py): its
    seconds, rows and peak RSS (kB), as that process measured them."""
    argv = [sys.executable, str(BENCH / "_sync_once.py"), str(folder / "bench.toml")]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"_sync_once.py exited {done.returncode}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def live(state: Path, child: Child) -> bool:
    """Whether the daemon runs live: it owns the store (``state.db.lock`` names it) and
    every map of the store has been synced."""
    child.check_running()
    lock = state.with_name(state.name + ".lock")
    try:
        holder = json.loads(lock.read_bytes() or b"{}")
    except (OSError, ValueError):  # not there yet, or being written
        return False
    if holder.get("pid") != child.proc.pid or not holder.get("live"):
        return False
    with closing(sqlite3.connect(state, timeout=30)) as st:
        unsynced = c.scalar(st, "SELECT count(*) FROM maps WHERE synced_at IS NULL")
        synced = c.scalar(st, "SELECT count(*) FROM maps WHERE synced_at IS NOT NULL")
    return unsynced == 0 and bool(synced)


def quiet(folder: Path) -> bool:
    """Whether the daemon has read every change of both sides and finished them all."""
    heads = []
    for side in ("fno", "crm"):
        with closing(c.connect(folder / f"{side}.db")) as db:
            seq = "SELECT seq FROM sqlite_sequence WHERE name = '_replicator_changes'"
            heads.append(int(c.scalar(db, seq) or 0))
    with closing(sqlite3.connect(folder / "state.db", timeout=30)) as st:
        cursors = dict(st.execute("SELECT side, cursor FROM cursors").fetchall())
        journal = c.scalar(st, "SELECT count(*) FROM journal")
    read = [int(cursors.get(i) or 0) for i in range(len(heads))]
    return journal == 0 and read == heads


@contextmanager
def replicator(folder: Path) -> Iterator[Child]:
    """The daemon on ``folder``, live and quiet (its initial sync done and settled)."""
    with daemon(folder) as child:
        c.wait_until(
            lambda: live(folder / "state.db", child), "the daemon to go live", READY_S, READY_POLL_S
        )
        c.wait_until(
            lambda: quiet(folder) and settled(folder), "the daemon to settle", READY_S, READY_POLL_S
        )
        yield child
        child.stop()
    if events := child.output().splitlines():  # it logs warnings and errors only
        print(f"{folder.name}: the daemon logged {len(events)}: {events[0]}", file=sys.stderr)


def settled(folder: Path) -> bool:
    time.sleep(SETTLE_S)
    return quiet(folder)


@contextmanager
def naive_script(folder: Path) -> Iterator[Child]:
    """The naive script on ``folder``, its first pass done."""
    with naive(folder) as child:
        c.wait_until(
            lambda: first_pass(child) is not None, "the naive first pass", READY_S, READY_POLL_S
        )
        yield child
        child.stop()


def first_pass(child: Child) -> float | None:
    """The seconds of the naive script's first pass, once it reported it."""
    child.check_running()
    for line in child.output().splitlines():
        if "first pass" in line:
            return float(line.split(" in ")[-1].split()[0])
    return None
