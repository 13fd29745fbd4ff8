"""Helpers for end-to-end tests: SQLite side files, configs, the CLI and the daemon process.

Everything here talks to the program the way a user does: plain ``sqlite3`` on the side
files and the state store, ``replicator ...`` as a subprocess with this interpreter.
Waiting is always bounded: ``wait_for`` polls a condition until a deadline and fails
with what it was waiting for.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

ENTRY = "from replicator.cli import main; raise SystemExit(main())"
POLL_S = 0.02
DEFAULT_TIMEOUT_S = 20.0
RUNAWAY_S = 600.0
"""The most a wait that is still making progress may last: a guard against a loop."""


def replicator_argv(*args: str) -> list[str]:
    """The command line of ``replicator ARGS`` run with this very interpreter."""
    return [sys.executable, "-c", ENTRY, *args]


def cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``replicator ARGS`` to completion and return its exit code and output."""
    return subprocess.run(
        replicator_argv(*args), capture_output=True, text=True, timeout=timeout, check=False
    )


def cli_json(*args: str) -> Any:
    """Run ``replicator ARGS`` (which must print JSON) and return the decoded output."""
    done = cli(*args)
    assert done.returncode == 0, f"replicator {' '.join(args)}: {done.returncode}\n{done.stderr}"
    return json.loads(done.stdout)


def backlog(config: Path) -> str:
    """What the daemon still has to do by its status: maps with a backlog or parked
    records ("" when nothing)."""
    status = cli_json("status", "--config", str(config), "--json")
    return "; ".join(
        f"{m['map']}: backlog {m['backlog']}, parked {m['parked']}"
        for m in status["maps"]
        if m["backlog"] or m["parked"]
    )


# -- side databases and configs ----------------------------------------------------------


def create_db(path: Path, schema: str) -> Path:
    """A new SQLite file at ``path`` with ``schema`` (a script) applied."""
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(schema)
    return path


def connect(path: Path) -> sqlite3.Connection:
    """An application's connection to a side file: autocommit, patient with locks."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def execute(path: Path, statement: str, params: Sequence[Any] = ()) -> None:
    """Run one statement on ``path`` in its own transaction, like another application."""
    with closing(connect(path)) as conn:
        conn.execute(statement, params)


def query(path: Path, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """All rows of a query on ``path`` (a fresh connection each time)."""
    with closing(connect(path)) as conn:
        return [tuple(r) for r in conn.execute(statement, params).fetchall()]


def scalar(path: Path, statement: str, params: Sequence[Any] = ()) -> Any:
    """The first column of the first row of a query on ``path`` (None if no row)."""
    rows = query(path, statement, params)
    return rows[0][0] if rows else None


def link_count(state: Path, map_name: str | None = None) -> int:
    """Links in the state store (0 while it does not exist yet or is being created)."""
    if not state.exists():
        return 0
    where, params = ("WHERE map = ?", (map_name,)) if map_name else ("", ())
    try:
        return int(scalar(state, f"SELECT count(*) FROM links {where}", params))
    except sqlite3.OperationalError:  # the schema is not created yet
        return 0


def write_config(
    directory: Path,
    maps: str,
    *,
    name: str = "replicator.toml",
    fno: str = "fno.db",
    crm: str = "crm.db",
    poll_interval_ms: int = 10,
    crm_options: str = "",
) -> Path:
    """A config with SQLite sides ``fno`` and ``crm`` in ``directory`` and ``maps`` appended.

    ``crm_options`` are extra TOML lines for side crm (e.g. ``busy_timeout_ms = 50``).
    """
    path = directory / name
    poll = f"poll_interval_ms = {poll_interval_ms}\n"
    path.write_text(
        '[state]\npath = "state.db"\n\n'
        f'[sides.fno]\nadapter = "sqlite"\npath = "{fno}"\n{poll}\n'
        f'[sides.crm]\nadapter = "sqlite"\npath = "{crm}"\n{poll}{crm_options}\n' + maps,
        encoding="utf-8",
    )
    return path


# -- waiting -----------------------------------------------------------------------------


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = DEFAULT_TIMEOUT_S) -> T:
    """Poll ``condition`` until it returns something truthy (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise WaitTimedOut(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL_S)


class WaitTimedOut(AssertionError):
    """A bounded wait ran out (the message says what it waited for)."""


def wait_progressing(
    condition: Callable[[], T | None],
    what: str,
    progress: Callable[[], object],
    stall_s: float = DEFAULT_TIMEOUT_S,
) -> T:
    """Poll ``condition`` until it returns something truthy (returned), as long as the work
    shows progress: fail once ``progress()`` (read after each poll) has not changed for
    ``stall_s``, or after ``RUNAWAY_S`` in all. For work whose length depends on the load
    (a daemon syncing thousands of rows on a busy machine), where a fixed deadline is a guess.
    """
    started = moved = time.monotonic()
    mark = progress()
    while True:
        result = condition()
        if result:
            return result
        now, latest = time.monotonic(), progress()
        if latest != mark:
            mark, moved = latest, now
        if now - moved > stall_s:
            raise WaitTimedOut(f"no progress for {stall_s} s waiting for {what}")
        if now - started > RUNAWAY_S:
            raise WaitTimedOut(f"still progressing after {RUNAWAY_S} s waiting for {what}")
        time.sleep(POLL_S)


def wait_rows(
    path: Path,
    statement: str,
    expected: Any,
    params: Sequence[Any] = (),
    timeout: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Wait until ``query(path, statement)`` returns ``expected``; fail showing the last rows."""
    last: list[list[tuple[Any, ...]]] = [[]]

    def matches() -> bool:
        last[0] = query(path, statement, params)
        return bool(last[0] == expected)

    try:
        wait_for(matches, f"{statement!r} on {path.name} to return {expected!r}", timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last returned {last[0]!r}") from None


# -- the daemon --------------------------------------------------------------------------


def read_events(log_path: Path, start: int = 0) -> list[dict[str, Any]]:
    """The JSON log events in ``log_path`` from byte ``start`` (other lines are skipped)."""
    if not log_path.exists():
        return []
    with log_path.open("rb") as log:
        log.seek(start)
        return parse_events(log.read())


def new_events(log_path: Path, start: int) -> tuple[list[dict[str, Any]], int]:
    """The JSON log events of the complete lines from byte ``start``, and the byte after
    them: where to read on (a line still being written is left for the next read)."""
    if not log_path.exists():
        return [], start
    with log_path.open("rb") as log:
        log.seek(start)
        data = log.read()
    complete = data[: data.rfind(b"\n") + 1]
    return parse_events(complete), start + len(complete)


def parse_events(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects among the lines of ``data`` (other lines are skipped)."""
    out = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out


def log_tail(log_path: Path, lines: int = 30) -> str:
    """The last lines of a daemon's log, for failure messages."""
    if not log_path.exists():
        return ""
    return "\n".join(log_path.read_text("utf-8", "replace").splitlines()[-lines:])


def wait_logged(
    proc: subprocess.Popen[bytes],
    log_path: Path,
    start: int,
    wanted: Callable[[dict[str, Any]], bool],
    what: str,
    stall_s: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Wait until the daemon ``proc``, logging to ``log_path`` from byte ``start``, logs an
    event that ``wanted`` accepts (returned).

    Bounded by the daemon's progress, not a fixed deadline (its initial sync of many rows
    on a loaded machine legitimately takes long, and logs ``initial_sync_progress`` every
    2 s meanwhile): fails when the run has logged nothing new below error level for
    ``stall_s`` (an error loop is no progress), or exited first; the message shows what
    the daemon last logged. Each poll reads only what was logged since the last one (a
    daemon catching up logs thousands of events, and parsing them all again and again
    would take the test process's time from a workload thread it runs).
    """
    progress = [0]
    read = [start]

    def found() -> dict[str, Any] | None:
        events, read[0] = new_events(log_path, read[0])
        progress[0] += sum(e.get("level") != "error" for e in events)
        hit = next((e for e in events if wanted(e)), None)
        if hit is None and proc.poll() is not None:
            raise AssertionError(
                f"daemon exited with {proc.returncode} before logging {what}:\n"
                + log_tail(log_path)
            )
        return hit

    try:
        return wait_progressing(found, f"log event {what}", lambda: progress[0], stall_s)
    except WaitTimedOut as exc:
        raise WaitTimedOut(f"{exc}; the daemon last logged:\n{log_tail(log_path)}") from None


class Daemon:
    """``replicator --log-format json run --config CFG`` as a child process.

    Use as a context manager: leaving the block SIGKILLs a daemon still running, so
    a failing test never leaves a process behind. Logs go to ``log_path`` (JSON lines).
    """

    def __init__(self, config: Path, log_path: Path | None = None) -> None:
        self.config = config
        self.log_path = log_path or config.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    def start(self, timeout: float = DEFAULT_TIMEOUT_S) -> Daemon:
        """Start the daemon and wait until it logged ``daemon_started`` (synced and live),
        for as long as it makes progress: at most ``timeout`` s without a new log event."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                replicator_argv("--log-format", "json", "run", "--config", str(self.config)),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.wait_event("daemon_started", timeout=timeout)
        return self

    def events(self) -> list[dict[str, Any]]:
        """The JSON log events of the current run (lines that are not JSON are skipped)."""
        return read_events(self.log_path, self._log_start)

    def wait_event(
        self, name: str, timeout: float = DEFAULT_TIMEOUT_S, **fields: Any
    ) -> dict[str, Any]:
        """Wait until the current run logged event ``name`` with ``fields``; fail if it died
        or logged nothing new for ``timeout`` s (see ``wait_logged``)."""
        assert self.proc is not None, "not started"

        def wanted(event: dict[str, Any]) -> bool:
            return event.get("event") == name and all(event.get(k) == v for k, v in fields.items())

        what = f"{name!r} {fields or ''}"
        return wait_logged(self.proc, self.log_path, self._log_start, wanted, what, timeout)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the log, for failure messages."""
        return log_tail(self.log_path, lines)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 40.0) -> int:
        """Send ``sig`` and return the exit code once the process is gone."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"daemon ignored {sig.name} for {timeout} s") from None

    def __enter__(self) -> Daemon:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
