"""Live reload and map edits on a running engine: two SQLite files, the real endpoint.

An edit saved through ``/api/maps/<name>/edit`` reaches the TOML (comments kept) and takes
effect on the next change without a restart; a refused edit or config changes nothing."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from conftest import until
from daemon import Daemon, create_db, execute, query, wait_rows, write_config
from http_endpoint import OPEN_HTTP, served
from replicator import reload
from replicator.config import check_config_text, load_config, read_config_text
from replicator.edits import ConflictPolicy
from replicator.engine import Replicator
from replicator.errors import ConfigError
from replicator.operations import Operations

pytestmark = pytest.mark.anyio

FNO_SCHEMA = "CREATE TABLE customers (id INTEGER PRIMARY KEY, account TEXT, name TEXT, st TEXT);"
CRM_SCHEMA = (
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, accountnumber TEXT, name TEXT, st TEXT);"
)
MAP = """\
# States: F&O writes them out, the CRM keeps the code.
[value_maps.state]
"Idaho" = "ID"        # the first one
"Oregon" = "OR"

[[maps]]
name = "customers"
fno = "customers"
crm = "accounts"
key = [ { fno = "account", crm = "accountnumber" } ]
fields = [
  { fno = "name", crm = "name" },                   # the customer's name
  { fno = "st", crm = "st", value_map = "state" },
]
conflict = "fno"      # finance decides
"""
CRM_ROWS = "SELECT accountnumber, name, st FROM accounts ORDER BY accountnumber"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    create_db(tmp_path / "fno.db", FNO_SCHEMA)
    create_db(tmp_path / "crm.db", CRM_SCHEMA)
    return write_config(tmp_path, OPEN_HTTP + MAP)


def add(folder: Path, account: str, name: str, st: str) -> None:
    execute(
        folder / "fno.db",
        "INSERT INTO customers (account, name, st) VALUES (?, ?, ?)",
        (account, name, st),
    )


def rewrite(config: Path, old: str, new: str) -> str:
    """Replace ``old`` by ``new`` in the config file; its new text."""
    text = read_config_text(config)
    assert old in text
    config.write_text(text.replace(old, new), encoding="utf-8")
    return read_config_text(config)


async def crm_rows(folder: Path, expected: list[tuple[Any, ...]]) -> None:
    """Wait (bounded) until the CRM holds ``expected``."""
    await until(lambda: query(folder / "crm.db", CRM_ROWS) == expected)


IDAHO_EDIT = {"edit": "value_map", "field": "st", "pairs": {"Idaho": "IDA", "Oregon": "OR"}}


async def test_a_value_map_edit_saved_through_the_api_applies_to_the_next_change(
    config: Path,
) -> None:
    """The edit is in the TOML with every comment kept, and the next change is translated
    with the new pair, with no restart."""
    folder, before = config.parent, read_config_text(config)
    async with Replicator(config) as rep, served(rep) as http:
        add(folder, "C1", "Contoso", "Idaho")
        await crm_rows(folder, [("C1", "Contoso", "ID")])
        shown = await http.post("/api/maps/customers/preview", json={"edits": [IDAHO_EDIT]})
        assert shown.status_code == 200 and shown.json()["errors"] == []
        assert '-"Idaho" = "ID"' in shown.json()["diff"]
        assert read_config_text(config) == before  # a preview writes nothing
        done = await http.post("/api/maps/customers/edit", json={"edits": [IDAHO_EDIT]})
        assert done.status_code == 200, done.text
        assert (done.json()["saved"], done.json()["applied"], done.json()["resync"]) == (
            True,
            True,
            [],
        )
        text = read_config_text(config)
        assert '"Idaho" = "IDA"        # the first one' in text
        for comment in ("# States:", "# the customer's name", "# finance decides"):
            assert comment in text
        assert rep.config.value_maps["state"].forward == {"Idaho": "IDA", "Oregon": "OR"}
        add(folder, "C2", "Fabrikam", "Idaho")
        await crm_rows(folder, [("C1", "Contoso", "ID"), ("C2", "Fabrikam", "IDA")])


async def test_an_invalid_edit_answers_validates_message_and_saves_nothing(config: Path) -> None:
    """A conflict policy naming no side: 400 with exactly validate's line; the file and the
    engine keep the config in force."""
    before = read_config_text(config)
    async with Replicator(config) as rep, served(rep) as http:
        edit = {"edit": "conflict", "policy": "erp"}
        refused = await http.post("/api/maps/customers/edit", json={"edits": [edit]})
        assert refused.status_code == 400
        expected = check_config_text(before.replace('conflict = "fno"', 'conflict = "erp"'), config)
        assert refused.json()["problems"] == expected and len(expected) == 1
        assert read_config_text(config) == before
        assert rep.config.map_named("customers").conflict == 0


async def test_a_body_with_an_unknown_field_is_refused(config: Path) -> None:
    async with Replicator(config) as rep, served(rep) as http:
        edit = {"edit": "conflict", "policy": "crm", "force": True}
        refused = await http.post("/api/maps/customers/preview", json={"edits": [edit]})
        assert refused.status_code == 400 and "unknown field `force`" in refused.json()["error"]


async def test_reload_refuses_a_change_of_sides_and_keeps_running(config: Path) -> None:
    """``[sides]`` cannot change while running: the error says to restart; nothing changed."""
    folder = config.parent
    async with Replicator(config) as rep:
        moved = read_config_text(config).replace('path = "crm.db"', 'path = "crm2.db"')
        with pytest.raises(ConfigError, match=r"\[sides\] changed: restart to change sides"):
            await rep.reload(moved)
        bad = read_config_text(config).replace('value_map = "state"', 'value_map = "states"')
        with pytest.raises(ConfigError) as info:
            await rep.reload(bad)
        assert info.value.problems == check_config_text(bad, config)
        add(folder, "C1", "Contoso", "Oregon")
        await crm_rows(folder, [("C1", "Contoso", "OR")])


async def test_enabling_a_field_re_syncs_the_map(config: Path) -> None:
    """A field turned on while running is a field change: the map is re-synced as at a
    restart, so records linked before come in step on it at once."""
    folder = config.parent
    disabled = rewrite(config, 'value_map = "state" }', 'value_map = "state", enabled = false }')
    async with Replicator(config) as rep:
        add(folder, "C1", "Contoso", "Idaho")
        await crm_rows(folder, [("C1", "Contoso", None)])
        resync = await rep.reload(disabled.replace(", enabled = false", ""))
        assert resync == ["customers"]
        await crm_rows(folder, [("C1", "Contoso", "ID")])
        await rep.wait_idle()
        status = {m["map"]: m for m in (await rep.status())["maps"]}
        assert status["customers"]["state"] == "running"


@pytest.mark.slow
def test_sighup_reloads_the_config_file_of_a_running_daemon(config: Path) -> None:
    """``kill -HUP``: the daemon applies the edited file without a restart; a broken file
    is refused with validate's lines in the log, and the daemon goes on as it was."""
    folder = config.parent
    text = read_config_text(config).replace(OPEN_HTTP, "")  # no endpoint needed
    config.write_text(text, encoding="utf-8")
    with Daemon(config) as daemon:
        daemon.start()
        assert daemon.proc is not None
        add(folder, "C1", "Contoso", "Idaho")
        wait_rows(folder / "crm.db", CRM_ROWS, [("C1", "Contoso", "ID")])
        config.write_text(text.replace('"Idaho" = "ID"', '"Idaho" = "IDA"'), encoding="utf-8")
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_event("config_reloaded")
        add(folder, "C2", "Fabrikam", "Idaho")
        expected = [("C1", "Contoso", "ID"), ("C2", "Fabrikam", "IDA")]
        wait_rows(folder / "crm.db", CRM_ROWS, expected)
        broken = text.replace('conflict = "fno"', 'conflict = "erp"')
        config.write_text(broken, encoding="utf-8")
        daemon.proc.send_signal(signal.SIGHUP)
        refused = daemon.wait_event("config_reload_refused")
        assert refused["problems"] == check_config_text(broken, config)
        add(folder, "C3", "Litware", "Idaho")  # still running, with the last good config
        wait_rows(folder / "crm.db", CRM_ROWS, [*expected, ("C3", "Litware", "IDA")])
        assert daemon.stop() == 0


async def test_reload_refuses_a_field_a_side_lacks(config: Path) -> None:
    """A field added that a side does not have is refused naming the map, as at start;
    the config in force stays."""
    async with Replicator(config) as rep:
        text = read_config_text(config)
        added = text.replace(
            '  { fno = "name", crm = "name" },',
            '  { fno = "name", crm = "name" },\n  { fno = "phone", crm = "phone" },',
        )
        with pytest.raises(ConfigError) as info:
            await rep.reload(added)
        assert all(p.startswith("replicator.toml: map 'customers': ") for p in info.value.problems)
        assert "phone" in str(info.value)
        assert [f.id for f in rep.config.map_named("customers").fields] == ["name", "st"]


@pytest.mark.parametrize(
    ("old", "new", "refusal"),
    [
        ('crm = "accounts"', 'crm = "accounts2"', "map 'customers': entities changed"),
        (
            '{ fno = "account", crm = "accountnumber" }',
            '{ fno = "account", crm = "name2" }',
            "map 'customers': key changed",
        ),
        ('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:9"', "[http] changed: restart"),
        ('path = "state.db"', 'path = "state2.db"', "[state] changed: restart"),
        ("\n[[maps]]", "\n[engine]\nbatch_size = 7\n\n[[maps]]", "[engine] changed"),
    ],
)
def test_what_only_a_restart_can_change_is_named(
    config: Path, old: str, new: str, refusal: str
) -> None:
    """Each change a running engine is built around is refused, naming it."""
    text = read_config_text(config)
    assert old in text
    before = reload.read_new(text, config)
    after = reload.read_new(text.replace(old, new, 1), config)
    found = reload.refused_changes(before, after)
    assert len(found) == 1 and refusal in found[0], found


def test_a_map_added_is_refused(config: Path) -> None:
    text = read_config_text(config)
    more = text + text[text.index("[[maps]]") :].replace(
        'name = "customers"', 'name = "others"'
    ).replace('fno = "customers"', 'fno = "others"').replace('crm = "accounts"', 'crm = "x"')
    found = reload.refused_changes(reload.read_new(text, config), reload.read_new(more, config))
    assert found == ["replicator.toml: maps 'others' added: restart to add or remove maps"]


async def test_without_an_engine_an_edit_is_saved_for_the_next_start(config: Path) -> None:
    """``Operations`` of a config with no engine running saves the edit, applying nothing."""
    async with Operations(load_config(config)) as ops:
        done = await ops.edit([ConflictPolicy(map="customers", policy="crm")])
    assert (done["saved"], done["applied"], done["errors"]) == (True, False, [])
    assert 'conflict = "crm"      # finance decides' in read_config_text(config)
