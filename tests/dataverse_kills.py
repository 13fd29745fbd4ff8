"""SIGKILLing the daemon at random moments: ``Killer`` runs ``replicator run`` as a child
process and kills it in start-up, in the initial sync or live, counting kills by phase."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

from daemon import replicator_argv, wait_for

KILL_DELAY_S = (0.05, 1.0)  # after the daemon is live


def _phase(events: set[str]) -> str:
    """The phase a run reached, by the events it logged."""
    if "daemon_started" in events:
        return "live"
    return "initial sync" if "initial_sync_started" in events else "start-up"


class Killer:
    """Runs the daemon and SIGKILLs it at random moments; kills by the phase it was in."""

    def __init__(self, config: Path, log: Path, rng: random.Random) -> None:
        self.config, self.log, self.rng = config, log, rng
        self.proc: subprocess.Popen[bytes] | None = None
        self.start = 0
        self.kill_at: float | None = None
        self.phases: dict[str, int] = {}

    @property
    def total(self) -> int:
        return sum(self.phases.values())

    def spawn(self, *, from_start: bool) -> None:
        """Start a daemon, to be killed a random delay after its spawn or after it is live."""
        self.start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                replicator_argv("--log-format", "json", "run", "--config", str(self.config)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.kill_at = time.monotonic() + self.rng.uniform(0.3, 2.0) if from_start else None

    def events(self) -> set[str]:
        with self.log.open("rb") as f:
            f.seek(self.start)
            lines = f.read().decode("utf-8", "replace").splitlines()
        return {
            line.split('"event": "', 1)[1].split('"', 1)[0]
            for line in lines
            if '"event": "' in line
        }

    def tick(self) -> None:
        """Between two workload steps: spawn, arm or kill, as due."""
        if self.proc is None:
            self.spawn(from_start=self.total % 3 == 0)
            return
        assert self.proc.poll() is None, f"the daemon exited by itself:\n{tail(self.log)}"
        if self.kill_at is None and "daemon_started" in self.events():
            self.kill_at = time.monotonic() + self.rng.uniform(*KILL_DELAY_S)
        elif self.kill_at is not None and time.monotonic() >= self.kill_at:
            self.kill()

    def kill_after(self, *events: str) -> None:
        """Spawn, wait for one of ``events``, SIGKILL after a short random delay."""
        self.spawn(from_start=False)
        assert self.proc is not None
        proc = self.proc
        wait_for(lambda: proc.poll() is not None or self.events() & set(events), str(events), 60)
        try:
            proc.wait(self.rng.uniform(0.0, 0.4))
            raise AssertionError(f"the daemon exited by itself:\n{tail(self.log)}")
        except subprocess.TimeoutExpired:
            self.kill()

    def kill_in_startup(self) -> None:
        """Spawn and SIGKILL within the first second (before or in the initial sync)."""
        self.spawn(from_start=False)
        assert self.proc is not None
        try:
            self.proc.wait(self.rng.uniform(0.2, 0.6))
            raise AssertionError(f"the daemon exited by itself:\n{tail(self.log)}")
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        phase = _phase(self.events())
        self.phases[phase] = self.phases.get(phase, 0) + 1
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.kill()


def tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text("utf-8", "replace").splitlines()[-lines:])
