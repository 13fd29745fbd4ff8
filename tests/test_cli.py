"""The operator's commands: ``errors list | retry | discard``, ``pause``/``resume``, ``status``.

``replicator.cli.main`` runs in-process (in a worker thread while an engine runs in the
test's event loop, as a daemon would in another process); its output is read with capsys.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog

from adapters.memory import MemorySide
from conftest import COMPANY_CUSTOMERS_MAP, until, write_config
from replicator import cli, engine
from replicator.adapter import Values
from replicator.engine import Replicator
from replicator.model import ErrorEntry
from replicator.store import Store

pytestmark = pytest.mark.anyio

TIMEOUT_S = 10.0
FNO, CRM = "CustomersV3", "accounts"

CUSTOMERS = COMPANY_CUSTOMERS_MAP + 'create = ["fno"]\n'
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
ALERT = 'alerts = [{ errors = 1, minutes = 10, action = "pause" }]\n'


@pytest.fixture(autouse=True)
def quiet_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep structlog as the tests set it (main() would configure it for a terminal),
    capture the engine's events instead of printing them, and tick its control loop fast."""
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)
    monkeypatch.setattr(engine, "CONTROL_POLL_S", 0.02)
    with structlog.testing.capture_logs():
        yield


def fno_customer(account: str, **values: Any) -> Values:
    return {"dataAreaId": "usmf", "CustomerAccount": account, **values}


def crm_account(account: str, **values: Any) -> Values:
    return {"company": "usmf", "accountnumber": account, **values}


def rows(side: MemorySide, entity: str, key: str) -> dict[str, Values]:
    return {v[key]: v for v in side.rows(entity).values()}


def main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``replicator ARGS`` in-process: exit code, stdout, stderr."""
    capsys.readouterr()
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``replicator ARGS`` from a worker thread: main() runs an event loop of its own, as a
    separate process would, beside any engine running in the test's loop."""
    return await anyio.to_thread.run_sync(lambda: main(capsys, *args))


async def idle(rep: Replicator) -> None:
    with anyio.fail_after(TIMEOUT_S):
        await rep.wait_idle()


@asynccontextmanager
async def running(cfg: Path, fno: MemorySide, crm: MemorySide) -> AsyncIterator[Replicator]:
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        await idle(rep)
        yield rep


async def two_errors(tmp_path: Path) -> tuple[Path, MemorySide, MemorySide]:
    """A stopped setup whose error queue holds a refused write (id 1) and a crm-born record (2)."""
    cfg = write_config(tmp_path, CUSTOMERS)
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with running(cfg, fno, crm) as rep:
        crm.fail_writes(1, "permanent", reason="refused by a plug-in")
        fno.insert(FNO, fno_customer("C1", Name="v1"))
        await idle(rep)
        crm.insert(CRM, crm_account("K1", name="born on crm"))
        await idle(rep)
    return cfg, fno, crm


async def stored_errors(tmp_path: Path) -> list[ErrorEntry]:
    """The error queue as the state store holds it (epoch times)."""
    store = await Store.open(tmp_path / "state.db")
    try:
        return await store.errors()
    finally:
        await store.close()


@pytest.fixture
def zone_ahead(monkeypatch: pytest.MonkeyPatch) -> Iterator[timezone]:
    """The local time zone is 5 h 30 ahead of UTC during the test, whatever the machine's."""
    monkeypatch.setenv("TZ", "XST-05:30")  # POSIX: the zone's offset west of UTC
    time.tzset()
    yield timezone(timedelta(hours=5, minutes=30))
    monkeypatch.undo()
    time.tzset()


# -- errors ---------------------------------------------------------------------------------


async def test_errors_list_shows_each_entry_in_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], zone_ahead: timezone
) -> None:
    """``errors list`` prints one line per entry: id, map, side, key, kind, attempts, when it
    was first and last seen (local time), reason."""
    cfg, _, _ = await two_errors(tmp_path)
    code, out, _ = await run(capsys, "errors", "--config", str(cfg), "list")
    assert code == 0
    lines = out.splitlines()
    head = ["id", "map", "side", "key", "kind", "attempts", "first_seen", "last_seen", "reason"]
    assert head == lines[0].split()[:9]
    entry = (await stored_errors(tmp_path))[0]
    seen = [datetime.fromtimestamp(t, zone_ahead) for t in (entry.first_seen, entry.last_seen)]
    assert "  ".join(t.strftime("%Y-%m-%d %H:%M:%S") for t in seen) in lines[2]
    body = "\n".join(lines[1:])
    assert "refused by a plug-in" in body and '["usmf","C1"]' in body
    assert "accepts new records only from" in body and '["usmf","K1"]' in body


async def test_errors_list_json_gives_the_full_context(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``errors --json list``: map, key (a list), side, native id, kind, reason, attempts,
    first and last seen (ISO 8601, UTC), change."""
    cfg, fno, crm = await two_errors(tmp_path)
    code, out, _ = await run(capsys, "errors", "--config", str(cfg), "--json", "list")
    assert code == 0
    refused, born = json.loads(out)
    assert (refused["id"], refused["map"], refused["side"], refused["key"]) == (
        1,
        "customers",
        "fno",
        ["usmf", "C1"],
    )
    assert refused["kind"] == "permanent" and "refused by a plug-in" in refused["reason"]
    assert refused["attempts"] == 1
    entry = (await stored_errors(tmp_path))[0]
    for name, epoch in (("first_seen", entry.first_seen), ("last_seen", entry.last_seen)):
        assert ISO_UTC.fullmatch(refused[name]), refused[name]
        assert datetime.fromisoformat(refused[name]).timestamp() == int(epoch)
    assert refused["native_id"] == next(iter(fno.rows(FNO)))
    assert refused["change"]["entity"] == FNO and refused["change"]["values"]["Name"] == "v1"
    assert (born["side"], born["kind"], born["native_id"]) == (
        "crm",
        "rule",
        next(iter(crm.rows(CRM))),
    )


async def test_errors_retry_applies_the_records_current_state_not_the_queued_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A retried record is read again: its value now, not the one in the queued change, arrives.

    The newer value reaches the replicator only through the retry: the side's feed has
    forgotten the edit (as when a change-tracking token expires).
    """
    cfg, fno, crm = await two_errors(tmp_path)
    nid = next(iter(fno.rows(FNO)))
    fno.update(FNO, nid, {"Name": "v2"})
    await fno.ack(str(await fno.head_cursor()))
    code, out, _ = await run(capsys, "errors", "--config", str(cfg), "retry", "1")
    assert (code, out.strip()) == (0, "queued 1 record(s) for retry")
    async with running(cfg, fno, crm) as rep:
        assert [e.id for e in await rep.ctx.store.errors()] == [2]
    assert rows(crm, CRM, "accountnumber")["C1"]["name"] == "v2"


async def test_errors_retry_all_against_a_running_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``retry --all`` re-queues every entry; the running engine picks them up on its own."""
    cfg, fno, crm = await two_errors(tmp_path)
    async with running(cfg, fno, crm) as rep:
        code, out, _ = await run(capsys, "errors", "--config", str(cfg), "retry", "--all")
        assert (code, out.strip()) == (0, "queued 2 record(s) for retry")

        async def retried() -> bool:
            return rows(crm, CRM, "accountnumber").get("C1") is not None

        await until(retried)
        await idle(rep)
        (left,) = await rep.ctx.store.errors()  # the crm-born record is refused again
        assert (left.key, left.kind, left.attempts) == ('["usmf","K1"]', "rule", 2)
        assert left.change is not None and left.change.values is not None
        assert left.change.values["name"] == "born on crm", "the queued change lost its values"


async def test_a_retried_record_refused_again_is_logged_with_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The change event of a retry (a change without values: the row is read) names the key."""
    cfg, fno, crm = await two_errors(tmp_path)
    await run(capsys, "errors", "--config", str(cfg), "retry", "--all")
    with structlog.testing.capture_logs() as logs:
        async with running(cfg, fno, crm) as rep:
            await until(lambda: rows(crm, CRM, "accountnumber").get("C1") is not None)
            await idle(rep)
    [refused] = [e for e in logs if e["event"] == "change" and e["outcome"] == "rejected"]
    assert refused["key"] == '["usmf","K1"]'


async def test_errors_retry_of_an_unknown_id_says_so_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Retrying ids that are not in the queue exits 1 naming them (the known ones are queued)."""
    cfg, _, _ = await two_errors(tmp_path)
    code, out, _ = await run(capsys, "errors", "--config", str(cfg), "retry", "2", "99")
    assert code == 1 and "no entry with id [99]" in out and "queued 1 record(s)" in out


async def test_errors_retry_without_ids_is_bad_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``errors retry`` with neither ids nor ``--all`` exits 2 with a hint."""
    cfg, _, _ = await two_errors(tmp_path)
    code, _, err = await run(capsys, "errors", "--config", str(cfg), "retry")
    assert code == 2 and "--all" in err


async def test_errors_discard_removes_entries_and_reports_unknown_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``discard`` drops entries for good; an id not in the queue makes it exit 1."""
    cfg, _, _ = await two_errors(tmp_path)
    code, out, _ = await run(capsys, "errors", "--config", str(cfg), "discard", "1")
    assert (code, out.strip()) == (0, "discarded 1 of 1")
    code, out, _ = await run(capsys, "errors", "--config", str(cfg), "--json", "list")
    assert [e["id"] for e in json.loads(out)] == [2]
    code, out, _ = await run(capsys, "errors", "--config", str(cfg), "discard", "1", "2")
    assert (code, out.strip()) == (1, "discarded 1 of 2")
    code, out, _ = await run(capsys, "errors", "--config", str(cfg), "--json", "list")
    assert json.loads(out) == []


async def test_errors_without_a_state_store_is_a_runtime_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before any run there is no queue: exit 1 saying so."""
    cfg = write_config(tmp_path, CUSTOMERS)
    code, _, err = await run(capsys, "errors", "--config", str(cfg), "list")
    assert code == 1 and "no state store" in err


# -- pause and resume ---------------------------------------------------------------------


async def test_pause_and_resume_a_running_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pause`` holds a running engine's map (changes wait); ``resume`` applies them."""
    cfg = write_config(tmp_path, CUSTOMERS)
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with running(cfg, fno, crm) as rep:
        code, out, _ = await run(capsys, "pause", "customers", "--config", str(cfg))
        assert (code, out.strip()) == (0, "map 'customers' paused")

        async def held() -> bool:
            return "customers" in rep.router.paused

        await until(held)
        fno.insert(FNO, fno_customer("C1", Name="while paused"))

        async def captured() -> bool:
            code, out, _ = await run(capsys, "status", "--config", str(cfg), "--json")
            (m,) = json.loads(out)["maps"]
            return bool(m["backlog"] == 1 and m["state"] == "paused")

        await until(captured)
        assert crm.rows(CRM) == {}
        code, out, _ = await run(capsys, "status", "--config", str(cfg), "--json")
        (m,) = json.loads(out)["maps"]
        assert m["paused_reason"] == "paused by the operator"

        code, out, _ = await run(capsys, "resume", "customers", "--config", str(cfg))
        assert (code, out.strip()) == (0, "map 'customers' resumed")

        async def arrived() -> bool:
            return "C1" in rows(crm, CRM, "accountnumber")

        await until(arrived)
        with anyio.fail_after(10):  # the row is there; its step's commit may not be yet
            await rep.wait_idle()
        code, out, _ = await run(capsys, "status", "--config", str(cfg), "--json")
        (m,) = json.loads(out)["maps"]
        assert (m["state"], m["backlog"], m["paused_reason"]) == ("running", 0, None)


async def test_pause_of_an_unknown_map_is_bad_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pause nosuchmap`` exits 2 naming the config file and the map."""
    cfg = write_config(tmp_path, CUSTOMERS)
    code, _, err = await run(capsys, "pause", "nosuchmap", "--config", str(cfg))
    assert code == 2 and "replicator.toml" in err and "'nosuchmap'" in err


# -- status -------------------------------------------------------------------------------


async def test_status_shows_an_outage_with_its_length_and_an_alert_pause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``status`` (JSON and text) shows crm down for N seconds and the map paused by its alert."""
    cfg = write_config(tmp_path, CUSTOMERS + ALERT)
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with running(cfg, fno, crm):
        crm.fail_writes(1, "permanent")
        fno.insert(FNO, fno_customer("C1", Name="refused"))

        async def status() -> dict[str, Any]:
            code, out, _ = await run(capsys, "status", "--config", str(cfg), "--json")
            return dict(json.loads(out))

        async def paused() -> bool:
            return bool((await status())["maps"][0]["state"] == "paused")

        async def down_a_while() -> bool:
            return bool((await status())["outages"].get("crm", {}).get("seconds", 0) >= 0.2)

        await until(paused)
        crm.down = True
        await until(down_a_while)
        shown = await status()
        assert shown["daemon"] == "running" and "fno" not in shown["outages"]
        outage = shown["outages"]["crm"]
        assert outage["seconds"] >= 0.2 and ISO_UTC.fullmatch(outage["since"])
        assert datetime.fromisoformat(outage["since"]).timestamp() < time.time()
        (m,) = shown["maps"]
        assert (m["map"], m["errors"]) == ("customers", 1)
        assert m["paused_reason"] == "alert: 1 errors in 10 minutes (threshold 1)"

        code, out, _ = await run(capsys, "status", "--config", str(cfg))
        assert code == 0 and "daemon: running" in out
        assert "side 'crm' unreachable for" in out
        assert "customers: alert: 1 errors in 10 minutes (threshold 1)" in out
        crm.down = False


async def test_status_of_a_stopped_daemon_shows_no_outage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once the daemon is gone, status says "stopped" and reports no outage it cannot know."""
    cfg = write_config(tmp_path, CUSTOMERS)
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with running(cfg, fno, crm):
        crm.down = True
        fno.insert(FNO, fno_customer("C1", Name="x"))

        async def recorded() -> bool:
            code, out, _ = await run(capsys, "status", "--config", str(cfg), "--json")
            return "crm" in json.loads(out)["outages"]

        await until(recorded)
        crm.down = False
    code, out, _ = await run(capsys, "status", "--config", str(cfg), "--json")
    status = json.loads(out)
    assert (code, status["daemon"], status["outages"]) == (0, "stopped", {})
    assert status["maps"][0]["state"] == "stopped"


async def test_status_json_gives_times_as_iso_8601_in_utc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``status --json`` gives when each map was synced as ISO 8601 with its zone, not an
    epoch number; a map never synced has none."""
    cfg = write_config(tmp_path, CUSTOMERS)
    async with running(cfg, MemorySide("fno"), MemorySide("crm")) as rep:
        (synced_at, _, _) = (await rep.ctx.store.map_states())["customers"]
    code, out, _ = await run(capsys, "status", "--config", str(cfg), "--json")
    (m,) = json.loads(out)["maps"]
    assert code == 0 and ISO_UTC.fullmatch(m["synced_at"]), m["synced_at"]
    assert synced_at is not None
    assert datetime.fromisoformat(m["synced_at"]).timestamp() == int(synced_at)

    cfg.write_text(cfg.read_text().replace('name = "customers"', 'name = "accounts"'))
    code, out, _ = await run(capsys, "status", "--config", str(cfg), "--json")
    assert json.loads(out)["maps"][0]["synced_at"] is None
