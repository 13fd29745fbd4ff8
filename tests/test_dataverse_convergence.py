"""Acceptance: the real daemon between an F&O SQLite file and the emulated Dataverse.

The emulator runs as a process of its own (``python -m emulators.dataverse``) and the
daemon as ``replicator run --config FILE``, both over real HTTPS. A seeded workload edits
both sides (dataverse_workload.py) while the emulator answers some requests with 429s and
503s; at the end both sides must agree with what the workload did, the products a user
created in Dataverse must be in the error queue, and once quiet no write may reach either
side for several rounds of polls (no echo loop). The same again with the daemon SIGKILLed
at random moments, and a test that the client secret is in nothing the program prints.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from dataverse_kills import Killer
from dataverse_process import SECRET_ENV, EmulatorProcess, User
from dataverse_seed import seed
from dataverse_workload import Workload
from dataverse_world import (
    PRODUCTS,
    TABLES,
    CrmReader,
    Model,
    disagreements,
    fno_head,
    make_fno,
    write_config,
)

from daemon import Daemon, backlog, cli_json, replicator_argv, wait_for

SEED = 20261202
SEED_TEXT = "Zq8~not-the-secret-but-looks-like-one"
SETTLE_TIMEOUT_S = 60.0
SILENT_POLL_ROUNDS = 5


@dataclass
class World:
    """Both sides, the user, the model and the daemon's config of one test."""

    tmp: Path
    emulator: EmulatorProcess
    fno: Path
    user: User
    crm: CrmReader
    model: Model
    config: Path

    @property
    def state(self) -> Path:
        return self.tmp / "state.db"

    def workload(self, seed: int) -> Workload:
        return Workload(self.fno, self.user, self.crm, self.state, self.model, seed)


@contextmanager
def world(tmp: Path, monkeypatch: pytest.MonkeyPatch, customers: int) -> Iterator[World]:
    """The emulator running, both sides seeded, the secret in the daemon's environment."""
    with EmulatorProcess(tmp / "emulator") as emulator:
        monkeypatch.setenv(SECRET_ENV, emulator.secret)
        user = User(emulator)
        try:
            crm, model = CrmReader(user), Model()
            fno = make_fno(tmp)
            seed(fno, user, crm, model, customers)
            config = write_config(tmp, emulator)
            yield World(tmp, emulator, fno, user, crm, model, config)
        finally:
            user.close()


def settle(w: World) -> float:
    """Wait until both sides agree with the model and the daemon is idle; seconds taken."""
    started = time.monotonic()
    last: list[list[str]] = [["not compared yet"]]

    def agreed() -> bool:
        last[0] = disagreements(w.fno, w.crm, w.model)
        if not last[0] and (pending := backlog(w.config)):
            last[0] = [pending]
        return not last[0]

    try:
        wait_for(agreed, "both sides to agree with the workload", SETTLE_TIMEOUT_S)
    except AssertionError as exc:
        raise AssertionError(f"{exc}:\n" + "\n".join(last[0])) from None
    return time.monotonic() - started


def assert_silent(w: World) -> int:
    """No write reaches either side for several rounds of polls; the polls that took."""
    writes, polls, head = w.emulator.writes(), w.emulator.polls(), fno_head(w.fno)
    rounds = SILENT_POLL_ROUNDS * len(TABLES)
    wait_for(lambda: w.emulator.polls() >= polls + rounds, f"{rounds} change-tracking polls")
    assert w.emulator.writes() == writes, "write requests reached Dataverse after quiescence"
    assert fno_head(w.fno) == head, "the replicator wrote to F&O after quiescence"
    return w.emulator.polls() - polls


def check_errors(w: World) -> None:
    """The products born in Dataverse are in the error queue, and nothing else is."""
    errors = cli_json("errors", "--config", str(w.config), "--json", "list")
    queued = {e["native_id"] for e in errors if e["map"] == PRODUCTS.map and e["side"] == "crm"}
    assert set(w.model.forbidden) <= queued, "refused creates missing from the error queue"
    others = [e for e in errors if not (e["map"] == PRODUCTS.map and e["side"] == "crm")]
    assert not others, f"unexpected errors: {others[:3]}"


def logged(daemon: Daemon, event: str) -> int:
    """How many times the daemon's current run logged ``event``."""
    return sum(1 for e in daemon.events() if e.get("event") == event)


class Faults:
    """Injects 429s and 503s and waits until the daemon met each (it logs every one)."""

    def __init__(self, w: World) -> None:
        self.emulator = w.emulator
        self.injected = {"throttle": 0, "fail": 0}

    def inject(self, daemon: Daemon | None, n: int) -> None:
        kind, event = ("throttle", "dataverse_throttled") if n % 2 else ("fail", "dataverse_retry")
        before = logged(daemon, event) if daemon else 0
        if kind == "throttle":
            self.emulator.inject(throttle=1, retry_after_s=1)
        else:
            self.emulator.inject(fail=2, status=503)
        self.injected[kind] += 1
        if daemon is not None:
            wait_for(
                lambda: logged(daemon, event) > before,
                f"the daemon to meet the injected {kind}",
            )


# -- 1. converging ------------------------------------------------------------------------

WORKLOAD_OPS = 300
FAULT_EVERY = 40


def test_both_sides_converge_under_throttling_and_server_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F&O and Dataverse edited both at once end equal, refused creates queued, then silent."""
    began = time.monotonic()
    with world(tmp_path, monkeypatch, customers=400) as w, Daemon(w.config) as daemon:
        daemon.start(timeout=60)
        workload, faults = w.workload(SEED), Faults(w)
        for n in range(WORKLOAD_OPS):
            workload.step()
            if n % FAULT_EVERY == FAULT_EVERY - 1:
                faults.inject(daemon, n // FAULT_EVERY)
        settled = settle(w)
        check_errors(w)
        polls = assert_silent(w)
        assert daemon.stop() == 0, daemon.log_tail()
        print(
            f"\nconvergence: {WORKLOAD_OPS} ops {workload.counts}, faults {faults.injected}, "
            f"settled in {settled:.1f} s, silent over {polls} polls, "
            f"{time.monotonic() - began:.1f} s in all, requests {w.emulator.counts()}"
        )


# -- 2. SIGKILLed ---------------------------------------------------------------------------

KILL_SEED_CUSTOMERS = 1600
KILL_WORKLOAD_OPS = 300
MAX_SYNC_KILLS = 6
MIN_LIVE_KILLS = 6


@pytest.mark.slow
def test_sigkills_at_random_moments_lose_nothing_and_duplicate_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILLed in the initial sync and live, restarted each time: as if it never crashed."""
    began = time.monotonic()
    rng = random.Random(SEED + 1)
    log = tmp_path / "daemon.log"
    with world(tmp_path, monkeypatch, customers=KILL_SEED_CUSTOMERS) as w:
        killer = Killer(w.config, log, rng)
        killer.kill_in_startup()
        while "live" not in killer.phases and killer.total <= MAX_SYNC_KILLS:
            killer.kill_after("initial_sync_started", "daemon_started")
        workload = w.workload(SEED + 2)
        try:
            for n in range(KILL_WORKLOAD_OPS):
                workload.step()
                killer.tick()
                if n % FAULT_EVERY == FAULT_EVERY - 1:
                    w.emulator.inject(**({"throttle": 1} if n % 2 else {"fail": 2}))
            while killer.phases.get("live", 0) < MIN_LIVE_KILLS:
                killer.stop()
                killer.kill_after("daemon_started")
        finally:
            killer.stop()
        with Daemon(w.config, log) as daemon:
            daemon.start(timeout=60)
            settled = settle(w)
            check_errors(w)
            polls = assert_silent(w)
            assert daemon.stop() == 0, daemon.log_tail()
        print(
            f"\nkills: {killer.phases}, seed {KILL_SEED_CUSTOMERS} customers, "
            f"{KILL_WORKLOAD_OPS} ops, settled in {settled:.1f} s, silent over {polls} polls, "
            f"{time.monotonic() - began:.1f} s in all"
        )


# -- 3. no secret printed ---------------------------------------------------------------------


def console_run(config: Path, *extra: str) -> str:
    """``replicator --log-format console [EXTRA] run`` until live, then SIGTERM; its output."""
    argv = replicator_argv("--log-format", "console", *extra, "run", "--config", str(config))
    out = config.with_name("console.log")
    with out.open("wb") as sink:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    try:
        wait_for(
            lambda: (
                proc.poll() is not None or "daemon_started" in out.read_text("utf-8", "replace")
            ),
            "the console-format daemon to start",
            60,
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(40) == 0, out.read_text("utf-8", "replace")[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out.read_text("utf-8", "replace")


def printed(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Exit code and everything ``replicator ARGS`` printed (stdout and stderr)."""
    done = subprocess.run(
        replicator_argv(*args), capture_output=True, text=True, timeout=60, env=env, check=False
    )
    return done.returncode, done.stdout + done.stderr


def test_the_client_secret_is_in_nothing_the_program_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logs in both formats (throttled, failed, re-signed-in), status, errors, a refused secret."""
    with world(tmp_path, monkeypatch, customers=40) as w:
        secrets = {w.emulator.secret, w.emulator.conn["user_client_secret"], "wrong-" + SEED_TEXT}
        config = str(w.config)
        outputs: dict[str, str] = {}
        with Daemon(w.config) as daemon:
            daemon.start(timeout=60)
            faults, workload = Faults(w), w.workload(SEED + 3)
            faults.inject(daemon, 0)
            faults.inject(daemon, 1)
            w.emulator.expire_tokens()
            for _ in range(20):
                workload.step()
            settle(w)
            wait_for(
                lambda: logged(daemon, "dataverse_token_acquired") >= 2,
                "a fresh token after the old one expired",
            )
            assert daemon.stop() == 0
            outputs["json log"] = daemon.log_path.read_text("utf-8", "replace")
        outputs["console log (debug)"] = console_run(w.config, "--log-level", "debug")
        for args in (
            ("status", "--config", config),
            ("status", "--config", config, "--json"),
            ("errors", "--config", config, "--json", "list"),
            ("errors", "--config", config, "list"),
            ("sync", "--config", config),
            ("validate", "--config", config),
        ):
            code, outputs[" ".join(args[:1] + args[3:])] = printed(*args)
            assert code == 0, outputs[" ".join(args[:1] + args[3:])]
        wrong = w.emulator.env("wrong-" + SEED_TEXT)
        for command in ("validate", "run"):
            code, text = printed("--log-format", "json", command, "--config", config, env=wrong)
            assert code != 0 and "AADSTS7000215" in text, text
            outputs[f"{command} with a wrong secret"] = text
        leaks = [name for name, text in outputs.items() for s in secrets if s in text]
        assert not leaks, f"a secret was printed by: {leaks}"
        assert "XS000" in outputs["errors --json list"], "the error queue printed no refusal"
