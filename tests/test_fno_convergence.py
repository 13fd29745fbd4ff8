"""Acceptance: the real daemon between the emulated F&O (data events) and an SQLite side.

The emulator runs as a process of its own (``python -m emulators.fno``) and its emitter posts
every committed change of ``CustomersV3`` to the daemon's ``/hooks/fno``, with its delivery
faults on: duplicates, reordering, lost events, and failed deliveries retried (the daemon is
SIGKILLed three times while events are in flight, so posts fail and are retried, some until
the emitter gives up and logs them). A seeded workload edits both sides meanwhile
(fno_workload.py); at the end a last batch of F&O changes is made with every event lost.

``reconcile_minutes`` takes whole minutes, so the daemon runs with 0 (on demand) and the test
asks the running daemon for a pass with ``replicator reconcile``. Then both sides must agree
with the model (nothing lost, no duplicate) and the pass must have replayed the lost changes.
How long recovery took is printed, not asserted.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import pytest
from fno_process import FnoProcess, FnoUser, free_port
from fno_workload import (
    ENTITY,
    MAP_TOML,
    Model,
    Workload,
    disagreements,
    fno_records,
    linked,
    make_crm,
)

from daemon import Daemon, backlog, cli, wait_for

SEED = 20261212
SECRET_ENV, HOOK_ENV = "FNO_CONVERGE_SECRET", "FNO_CONVERGE_HOOK_KEY"
HOOK_KEY = "converge-hook-key-93b1"
FAULTS = {"seed": SEED, "duplicate": 0.2, "reorder": 0.2, "loss": 0.1,
          "retries": 3, "retry_interval_s": 0.3, "hold_s": 0.3}  # fmt: skip
KILLS = 3
LIVE_OPS = 40  # per daemon run
DOWN_OPS = 8  # while the daemon is down
LOST_CHANGES = 4  # the last F&O changes, every event lost
SETTLE_TIMEOUT_S = 60.0


class EventsWorld(Protocol):
    """What the event-fault helpers below need of a world (whatever the other side is)."""

    @property
    def emulator(self) -> FnoProcess: ...
    @property
    def model(self) -> Model: ...
    @property
    def config(self) -> Path: ...
    @property
    def state(self) -> Path: ...


@dataclass
class World:
    tmp: Path
    emulator: FnoProcess
    user: FnoUser
    crm: Path
    model: Model
    config: Path

    @property
    def state(self) -> Path:
        return self.tmp / "state.db"


@contextmanager
def world(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The emulator subscribed to the daemon's hook with faults on, the SQLite side, a config."""
    with FnoProcess(tmp / "emulator") as emulator:
        monkeypatch.setenv(SECRET_ENV, emulator.secret)
        monkeypatch.setenv(HOOK_ENV, HOOK_KEY)
        port = free_port()
        emulator.subscribe(f"http://127.0.0.1:{port}/hooks/fno?code={HOOK_KEY}", ENTITY)
        emulator.event_faults(**FAULTS)
        user = FnoUser(emulator)
        try:
            model = Model(records=fno_records(user))
            model.born = dict.fromkeys(model.records, "fno")
            config = tmp / "replicator.toml"
            config.write_text(
                f'[state]\npath = "state.db"\n\n[http]\nlisten = "127.0.0.1:{port}"\n\n'
                + emulator.fno_side_options(SECRET_ENV, HOOK_ENV, reconcile_minutes=0)
                + '\n[sides.crm]\nadapter = "sqlite"\npath = "crm.db"\npoll_interval_ms = 20\n'
                + MAP_TOML,
                encoding="utf-8",
            )
            yield World(tmp, emulator, user, make_crm(tmp), model, config)
        finally:
            user.close()


def run_and_kill(w: EventsWorld, workload: Workload, log: Path) -> None:
    """A daemon run with ``LIVE_OPS`` workload steps, SIGKILLed right after an F&O write (its
    events still in flight), then ``DOWN_OPS`` steps while it is down."""
    with Daemon(w.config, log) as daemon:
        daemon.start(timeout=60)
        for _ in range(LIVE_OPS):
            workload.step()
        workload.fno_create()
        assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    for _ in range(DOWN_OPS):
        workload.step()


def lose_last_changes(w: EventsWorld, workload: Workload) -> None:
    """F&O changes whose events are all lost: creates, renames and a delete of linked rows."""
    wait_for(lambda: quiet(w), "the emitter to deliver what it has")
    w.emulator.event_faults(**{**FAULTS, "loss": 1.0})
    for _ in range(LOST_CHANGES):
        workload.fno_create()
    old = [k for k in w.model.live() if linked(w.state, k)]
    assert len(old) > LOST_CHANGES, "too few linked records to change"
    for key in old[:LOST_CHANGES]:
        assert workload.fno_rename(key)
    assert workload.fno_delete(old[LOST_CHANGES])


def quiet(w: EventsWorld) -> bool:
    """Nothing held back for reordering and nothing pending in the emitter."""
    log = w.emulator.event_log()
    if log["held"]:
        w.emulator.release()
    return not log["held"] and not log["pending"]


def settle_on(config: Path, disagreements: Callable[[], list[str]]) -> float:
    """Wait until ``disagreements()`` is empty and the daemon idle by ``config``; when that was."""
    last: list[list[str]] = [["not compared yet"]]

    def agreed() -> bool:
        last[0] = disagreements()
        if not last[0] and (pending := backlog(config)):
            last[0] = [pending]
        return not last[0]

    try:
        wait_for(agreed, "both sides to agree with the workload", SETTLE_TIMEOUT_S)
    except AssertionError as exc:
        raise AssertionError(f"{exc}:\n" + "\n".join(last[0][:20])) from None
    return time.monotonic()


def delivery_faults(log: dict[str, Any]) -> dict[str, int]:
    """What the emitter's log shows happened: duplicates, reorderings, losses, failures."""
    delivered = log["delivered"]
    ids = Counter(e["EventId"] for e in delivered)
    numbers = [e["ControlNumber"] for e in delivered]
    return {
        "delivered": len(delivered),
        "duplicated": sum(n - 1 for n in ids.values()),
        "reordered": sum(1 for a, b in zip(numbers, numbers[1:], strict=False) if b < a),
        "lost": len(log["lost"]),
        "failed after retries": len(log["errors"]),
    }


def reconciled(daemon: Daemon) -> dict[str, float]:
    """The F&O side's ``reconcile_finished`` of this run: seconds, replayed, deleted."""
    passes = [
        e for e in daemon.events() if e.get("event") == "reconcile_finished" and e["side"] == "fno"
    ]
    assert passes, f"no reconcile_finished for side fno:\n{daemon.log_tail()}"
    return {k: sum(float(p[k]) for p in passes) for k in ("seconds", "replayed", "deleted")}


def kill_reconcile_and_settle(
    w: EventsWorld,
    workload: Workload,
    disagree: Callable[[], list[str]],
    title: str,
    check_end: Callable[[], None] = lambda: None,
) -> None:
    """The convergence run both variants share: the workload with ``KILLS`` SIGKILLs of the
    daemon, then a live run whose last F&O events are all lost, ``replicator reconcile``, and
    both sides in step (``disagree()`` empty); ``check_end`` looks at the end state before the
    daemon stops. Prints how long recovery took."""
    began = time.monotonic()
    log = w.config.parent / "daemon.log"
    for _ in range(KILLS):
        run_and_kill(w, workload, log)
    with Daemon(w.config, log) as daemon:
        daemon.start(timeout=60)
        for _ in range(LIVE_OPS):
            workload.step()
        lose_last_changes(w, workload)
        last_change = time.monotonic()
        wait_for(lambda: quiet(w), "the emitter to deliver (or lose) the last events")
        assert disagree(), "the lost events changed nothing?"
        done = cli("reconcile", "--config", str(w.config))
        assert done.returncode == 0, done.stdout + done.stderr
        converged = settle_on(w.config, disagree)
        recovered = reconciled(daemon)
        assert recovered["replayed"] >= LOST_CHANGES and recovered["deleted"] >= 1
        check_end()
        assert daemon.stop() == 0, daemon.log_tail()
    logged = log.read_text()  # every event was posted with ?code=<key>; the app signs in
    for secret in (HOOK_KEY, w.emulator.secret):
        assert secret not in logged, "a secret is in the daemon's log"
    faults = delivery_faults(w.emulator.event_log())
    assert faults["duplicated"] and faults["reordered"] and faults["lost"], faults
    print(
        f"\n{title}: {KILLS} SIGKILLs, ops {workload.counts}, events {faults}; "
        f"recovered {converged - last_change:.2f} s after the last change "
        f"(reconcile pass {recovered['seconds']:.3f} s: replayed "
        f"{recovered['replayed']:.0f}, deleted {recovered['deleted']:.0f}); "
        f"{time.monotonic() - began:.1f} s in all"
    )


@pytest.mark.slow
def test_fno_events_with_faults_and_sigkills_converge_after_reconciliation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Duplicated, reordered, lost and failed events, three SIGKILLs: nothing lost, no dupes."""
    with world(tmp_path, monkeypatch) as w:
        workload = Workload(w.user, w.crm, w.state, w.model, SEED)
        disagree = partial(disagreements, w.user, w.crm, w.model)
        kill_reconcile_and_settle(w, workload, disagree, "fno convergence")
