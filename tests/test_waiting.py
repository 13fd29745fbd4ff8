"""The end-to-end tests' bounded waits (tests/daemon.py): bounded by progress, and a failure
that says what the daemon last logged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import daemon
from daemon import WaitTimedOut, wait_logged, wait_progressing

STALLS = """
import json, sys, time
print(json.dumps({"event": "initial_sync_progress", "level": "info", "done": 500}), flush=True)
print(json.dumps({"event": "side_down", "level": "error", "side": "crm"}), flush=True)
time.sleep(600)
"""


def test_a_daemon_that_stops_logging_fails_the_wait_showing_what_it_last_logged(
    tmp_path: Path,
) -> None:
    """No new event for the stall bound: the wait fails with the daemon's last log lines."""
    log_path = tmp_path / "daemon.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-c", STALLS], stdout=log)
    try:

        def started(event: dict[str, object]) -> bool:
            return event.get("event") == "daemon_started"

        with pytest.raises(WaitTimedOut) as caught:
            wait_logged(proc, log_path, 0, started, "'daemon_started'", stall_s=0.5)
    finally:
        proc.kill()
        proc.wait()
    message = str(caught.value)
    assert message.startswith("no progress for 0.5 s waiting for log event 'daemon_started'")
    assert '"done": 500' in message and '"side_down"' in message


class FakeClock:
    """Stands in for ``time`` in tests/daemon.py: each sleep is one second."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += 1.0


def test_a_wait_lasts_while_progress_is_made_and_ends_when_it_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each move of the mark restarts the stall clock: moving for 10 s under a 3 s stall
    bound, the wait fails only 3 s after the mark stopped."""
    clock = FakeClock()
    monkeypatch.setattr(daemon, "time", clock)
    with pytest.raises(WaitTimedOut, match="no progress for 3 s waiting for nothing"):
        wait_progressing(lambda: None, "nothing", lambda: min(clock.now, 10.0), stall_s=3)
    assert clock.now == 14.0  # last move at 10, still at 11, 12, 13: > 3 s at 14


def test_a_wait_returns_what_the_condition_found() -> None:
    """The first truthy result of the condition is the wait's result."""
    results = iter([None, None, "found"])
    assert wait_progressing(lambda: next(results), "it", lambda: 0, stall_s=60) == "found"
