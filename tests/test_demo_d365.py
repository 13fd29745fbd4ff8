"""``replicator run --demo d365`` as a user runs it: a real process in an empty folder serving
both emulators and the daemon; the tour's commands create a customer in "F&O" that appears in
"Dataverse" and an account in "Dataverse" that appears in "F&O"; SIGTERM stops all three (0).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from daemon import log_tail, read_events, replicator_argv, wait_for, wait_logged
from replicator.demo.d365 import create_d365_demo
from replicator.demo.d365.world import demo_sides

pytestmark = pytest.mark.slow


def helper(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m replicator.demo.d365 --dir FOLDER ARGS``, the tour's own commands."""
    argv = [sys.executable, "-m", "replicator.demo.d365", "--dir", str(folder), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def found(folder: Path, *args: str) -> Any:
    """What the helper printed, or None while it answers "not there (yet)"."""
    done = helper(folder, *args)
    if done.returncode == 0:
        return json.loads(done.stdout)
    assert "(yet)" in done.stderr, done.stderr  # the README tells to run it again
    return None


def test_the_d365_demo_replicates_both_ways_and_stops_cleanly(tmp_path: Path) -> None:
    """A customer made in F&O becomes an account in Dataverse and back; SIGTERM exits 0."""
    log = tmp_path / "run.log"
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        argv = replicator_argv("run", "--demo", "d365", "--log-format", "json")
        proc = subprocess.Popen(argv, cwd=tmp_path, stdout=out, stderr=out, env=env)
    try:
        wait_logged(proc, log, 0, lambda e: e.get("event") == "daemon_started", "daemon_started")
        folder = tmp_path / "replicator-d365-demo"
        made = helper(folder, "create-customer", "US-9001", "Northwind Traders",
                      "--credit-limit", "75000")  # fmt: skip
        assert made.returncode == 0, made.stderr
        account = wait_for(lambda: found(folder, "account", "US-9001"), "the account", 60)
        assert account[0]["name"] == "Northwind Traders" and account[0]["creditlimit"] == 75000

        made = helper(folder, "create-account", "CRM-9001", "Fabrikam Outfitters")
        assert made.returncode == 0, made.stderr
        customer = wait_for(lambda: found(folder, "customer", "CRM-9001"), "the customer", 60)
        assert customer["OrganizationName"] == "Fabrikam Outfitters"
        assert customer["CustomerGroupId"] == "30"

        errors = [e for e in read_events(log) if e.get("level") == "error"]
        assert errors == [], errors
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log_tail(log)
    text = log.read_text("utf-8", "replace")
    for secret in (folder / "demo.env").read_text().splitlines():
        assert secret.split("=", 1)[1] not in text  # no secret in the log or the banner
    assert stat.S_IMODE((folder / "demo.env").stat().st_mode) == 0o600


def test_the_demo_config_is_written_once_and_then_reused(tmp_path: Path) -> None:
    """A partner's edit of demo.toml survives the next run; ports and client ids are filled."""
    path = create_d365_demo(tmp_path / "demo")
    assert "$" not in path.read_text()
    fno, crm = demo_sides(path)
    assert (fno.name, crm.name) == ("fno", "crm") and fno.port != crm.port
    path.write_text(path.read_text() + "\n# mine\n")
    assert create_d365_demo(tmp_path / "demo").read_text().endswith("# mine\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
