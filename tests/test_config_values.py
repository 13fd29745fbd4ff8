"""Config values the program cannot use are refused at load, in the config's own spelling.

Engine knobs, map knobs, defaults a side cannot store and adapter options: each mistake is
one line naming the file and the table, map or field, and all of them come in one run.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from test_config import GROUPS, customers, load, only_problem, problems

from conftest import NAME_PHONE_MAP, write_config
from replicator import cli
from replicator.config import EngineConfig

MAX_INT64 = 2**63 - 1


def engine(*lines: str) -> str:
    """A valid config with an ``[engine]`` table of ``lines``."""
    return "[engine]\n" + "\n".join(lines) + "\n" + customers()


# --- [engine] -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("max_actors = 0", "max_actors must be an integer >= 1, got 0"),
        ("batch_size = -5", "batch_size must be an integer >= 1 and <= 10000, got -5"),
        ("batch_size = 0", "batch_size must be an integer >= 1 and <= 10000, got 0"),
        ("batch_size = 20000", "batch_size must be an integer >= 1 and <= 10000, got 20000"),
        ("batch_size = 2.5", "batch_size must be an integer >= 1 and <= 10000, got 2.5"),
        ("mailbox_size = -1", "mailbox_size must be an integer >= 1, got -1"),
        ("max_actors = true", "max_actors must be an integer >= 1, got true"),
        ("park_timeout_s = 0", "park_timeout_s must be a number > 0, got 0"),
        ("park_timeout_s = inf", "park_timeout_s must be a number > 0, got inf"),
        ("retry_first_s = -0.5", "retry_first_s must be a number > 0, got -0.5"),
        ('retry_max_s = "30"', 'retry_max_s must be a number > 0, got "30"'),
        ("idle_actor_s = -1", "idle_actor_s must be a number >= 0, got -1"),
        ("idle_actor_s = nan", "idle_actor_s must be a number >= 0, got nan"),
    ],
)
def test_engine_knob_out_of_range_is_refused(tmp_path: Path, line: str, message: str) -> None:
    """Each engine knob has its range; a value outside it is named in TOML spelling."""
    assert only_problem(tmp_path, engine(line)) == f"replica.toml: [engine]: {message}"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (("retry_first_s = 60",), "retry_max_s (30.0, the default) must be >= retry_first_s (60)"),
        (
            ("retry_max_s = 0.01",),
            "retry_max_s (0.01) must be >= retry_first_s (0.05, the default)",
        ),
        (("retry_first_s = 2", "retry_max_s = 1"), "retry_max_s (1) must be >= retry_first_s (2)"),
    ],
)
def test_retry_max_below_retry_first_is_refused(
    tmp_path: Path, lines: tuple[str, ...], message: str
) -> None:
    """The longest wait between retries cannot be shorter than the first wait."""
    assert only_problem(tmp_path, engine(*lines)) == f"replica.toml: [engine]: {message}"


def test_every_engine_problem_comes_in_one_run(tmp_path: Path) -> None:
    """Three bad knobs are three lines, not the first one only."""
    found = problems(tmp_path, engine("max_actors = 0", "batch_size = -5", "mailbox_size = -1"))
    assert [line.split(": ")[2].split()[0] for line in found] == [
        "max_actors",
        "batch_size",
        "mailbox_size",
    ]


def test_engine_knobs_at_their_bounds_are_kept(tmp_path: Path) -> None:
    """The smallest accepted values load; an integer number of seconds is a float."""
    knobs = ("batch_size = 1", "max_actors = 1", "idle_actor_s = 0", "park_timeout_s = 5")
    config = load(tmp_path, engine(*knobs))
    assert config.engine == EngineConfig(batch_size=1, max_actors=1, park_timeout_s=5.0)
    assert isinstance(config.engine.park_timeout_s, float)


# --- map knobs ------------------------------------------------------------------------------


def test_map_park_timeout_out_of_range_is_refused(tmp_path: Path) -> None:
    """A map's own park timeout must be positive, named with the map."""
    line = only_problem(tmp_path, customers("park_timeout_s = -1"))
    assert line == "replica.toml: map 'customers': park_timeout_s must be a number > 0, got -1"


@pytest.mark.parametrize(
    ("alert", "message"),
    [
        ("{ errors = 0, minutes = 10 }", "errors must be an integer >= 1, got 0"),
        ("{ errors = 3, minutes = -5 }", "minutes must be a number > 0, got -5"),
        ("{ errors = true, minutes = 5 }", "errors must be an integer >= 1, got true"),
        ("{ errors = 3 }", "minutes is required (a number > 0)"),
        (
            '{ errors = 3, minutes = 5, action = "stop" }',
            "action must be 'pause' or 'log', got \"stop\"",
        ),
        (
            "{ errors = 3, minute = 5, minutes = 5 }",
            "unknown key 'minute' (did you mean 'minutes'?)",
        ),
        ("3", "must be an inline table like { errors = 5, minutes = 10 }"),
    ],
)
def test_bad_alert_is_refused_naming_map_and_alert(
    tmp_path: Path, alert: str, message: str
) -> None:
    """An alert's threshold and window have ranges; the message names the map and the alert."""
    line = only_problem(tmp_path, customers(f"alerts = [ {alert} ]"))
    assert line == f"replica.toml: map 'customers', alerts[0]: {message}"


def test_good_alert_is_kept(tmp_path: Path) -> None:
    """A valid alert loads with its action."""
    config = load(tmp_path, customers('alerts = [ { errors = 2, minutes = 1, action = "log" } ]'))
    [alert] = config.map_named("customers").alerts
    assert (alert.errors, alert.minutes, alert.action) == (2, 1.0, "log")


def test_empty_create_rule_is_refused(tmp_path: Path) -> None:
    """``create = []`` would let no record be born anywhere: it is a mistake, said so."""
    line = only_problem(tmp_path, customers("create = []"))
    assert line.startswith("replica.toml: map 'customers', create: an empty list lets no side")


def test_empty_companies_list_is_refused(tmp_path: Path) -> None:
    """``companies = []`` read as "every company" (a list naming none): refused, said so."""
    line = only_problem(tmp_path, customers("companies = []"))
    assert line.startswith("replica.toml: map 'customers', companies: an empty list names no")


@pytest.mark.parametrize("condition", ["", "   "])
def test_a_blank_filter_is_refused_as_empty(tmp_path: Path, condition: str) -> None:
    """A filter of only spaces is empty, said so (not "does not compile: near ')'")."""
    line = only_problem(tmp_path, customers(f'filter = {{ fno = "{condition}" }}'))
    assert line.endswith("filter: the condition for side 'fno' must be a non-empty string")


def test_empty_delete_rule_keeps_deletes_from_propagating(tmp_path: Path) -> None:
    """``delete = []`` is a real policy (deletes stay where they happen), so it loads."""
    assert load(tmp_path, customers("delete = []")).map_named("customers").delete == frozenset()


# --- values a side must store -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("default", "message"),
    [
        (
            str(2**64),
            f"default {2**64} does not fit in a 64-bit integer (-{MAX_INT64 + 1} to {MAX_INT64})",
        ),
        (
            str(-(2**63) - 1),
            f"default {-(2**63) - 1} does not fit in a 64-bit integer",
        ),
        ("1979-05-27", "default 1979-05-27 is a date, not a field value"),
        ("[1, 2]", "default [1, 2] is an array, not a field value"),
        ("{ a = 1 }", "default { a = 1 } is a table, not a field value"),
        ("nan", "default nan is not a finite number"),
        ("1e400", "default inf is not a finite number"),
        ("-inf", "default -inf is not a finite number"),
    ],
)
def test_default_a_side_cannot_store_is_refused(tmp_path: Path, default: str, message: str) -> None:
    """A default no side could store (over 64 bits, nan, a date, an array) names map and field."""
    field = f'{{ fno = "CreditLimit", crm = "creditlimit", default = {default} }}'
    line = only_problem(tmp_path, customers(f"fields = [ {field} ]"))
    assert line.startswith(
        f"replica.toml: map 'customers', fields[0] (CreditLimit <-> creditlimit): {message}"
    )


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (str(MAX_INT64), MAX_INT64),
        (str(-(2**63)), -(2**63)),
        ("1.5", 1.5),
        ('"en-us"', "en-us"),
        ("true", True),
    ],
)
def test_default_a_side_can_store_is_kept(tmp_path: Path, literal: str, value: object) -> None:
    """64-bit integers at both ends, floats, strings and booleans are defaults."""
    field = f'{{ fno = "CreditLimit", crm = "creditlimit", default = {literal} }}'
    config = load(tmp_path, customers(f"fields = [ {field} ]"))
    assert config.map_named("customers").fields[0].default == value


def test_value_map_value_a_side_cannot_store_is_refused(tmp_path: Path) -> None:
    """A value map's value over 64 bits is refused like a default."""
    text = f'[value_maps.limits]\n"high" = {2**70}\n' + customers()
    line = only_problem(tmp_path, text)
    assert line.startswith(
        f"replica.toml: [value_maps.limits]: 'high' = {2**70} does not fit in a 64-bit integer"
    )


# --- adapters and their options ---------------------------------------------------------------


def sides(fno: str, crm: str = 'adapter = "sqlite"\npath = "crm.db"') -> str:
    """A valid config whose side tables are ``fno`` and ``crm``."""
    return f"[sides.fno]\n{fno}\n\n[sides.crm]\n{crm}\n" + GROUPS


@pytest.mark.parametrize("adapter", ['"../x"', '"a.b"', '""', '"_sqlite_schema"', "5"])
def test_adapter_that_is_not_a_module_name_is_refused(tmp_path: Path, adapter: str) -> None:
    """A path, a dotted, empty or private name is not an adapter; the known ones are listed."""
    line = only_problem(tmp_path, sides(f"adapter = {adapter}"))
    shown = adapter.replace('"', "'")
    assert line == (
        f"replica.toml: [sides.fno]: adapter {shown} is not an adapter name; "
        "known adapters: dataverse, fno, memory, sqlite"
    )


def test_adapter_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    """An adapter name with no module says so and lists the adapters installed."""
    line = only_problem(tmp_path, sides('adapter = "oracle"\nurl = "https://x"'))
    assert line == (
        "replica.toml: [sides.fno]: no adapter named 'oracle'; "
        "known adapters: dataverse, fno, memory, sqlite"
    )


def test_module_without_create_side_is_not_an_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module of the adapters package that has no create_side() is refused by name."""
    monkeypatch.setitem(sys.modules, "adapters.helpers", types.ModuleType("adapters.helpers"))
    line = only_problem(tmp_path, sides('adapter = "helpers"'))
    assert line == (
        "replica.toml: [sides.fno]: adapters.helpers is not an adapter: it has no create_side()"
    )


def test_adapter_option_errors_name_the_file_and_side(tmp_path: Path) -> None:
    """An unknown or missing option of the SQLite adapter is named with file and [sides.NAME]."""
    found = problems(tmp_path, sides('adapter = "sqlite"\npth = "fno.db"'))
    assert found == [
        "replica.toml: [sides.fno]: unknown option 'pth' for the sqlite adapter "
        "(known: path, poll_interval_ms, busy_timeout_ms)",
        "replica.toml: [sides.fno]: option 'path' (the database file, relative to the config) "
        "is required",
    ]


def test_option_errors_of_both_sides_and_the_maps_come_in_one_run(tmp_path: Path) -> None:
    """Options of both sides and a map mistake are reported together, in file order."""
    fno = 'adapter = "sqlite"\npath = "fno.db"\npoll_interval_ms = 0'
    crm = 'adapter = "memory"\nshared = "x"'
    text = sides(fno, crm).replace('crm = "groups"', 'crm = "groups"\nconflict = "erp"')
    found = problems(tmp_path, text)
    assert found == [
        "replica.toml: [sides.fno]: option 'poll_interval_ms' must be an integer >= 1, got 0",
        "replica.toml: [sides.crm]: unknown option 'shared' for the memory adapter "
        "(known: instance, reconcile_minutes)",
        "replica.toml: map 'groups', conflict: 'erp' is not a side: use 'fno', 'crm' or 'newest'",
    ]


def test_sides_used_by_the_adapter_tests_are_valid(tmp_path: Path) -> None:
    """The base of the adapter tests loads, so each of them tests one mistake."""
    config = load(tmp_path, sides('adapter = "sqlite"\npath = "f.db"'))
    assert [s.adapter for s in config.sides] == ["sqlite", "sqlite"]


# --- the commands -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "sync", "run"])
def test_commands_refuse_bad_knobs_before_touching_anything(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    """``batch_size = -5`` and ``max_actors = 0`` make validate, sync and run exit 2 with
    both problems, before a state store is created (so no map is recorded as synced)."""
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)
    config = write_config(
        tmp_path, "[engine]\nbatch_size = -5\nmax_actors = 0\n\n" + NAME_PHONE_MAP
    )
    assert cli.main([command, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "[engine]: batch_size must be an integer >= 1 and <= 10000, got -5" in err
    assert "[engine]: max_actors must be an integer >= 1, got 0" in err
    assert not (tmp_path / "state.db").exists()


def test_side_that_is_not_a_table_is_one_problem(tmp_path: Path) -> None:
    """``sides.fno = 5`` is reported once, not also as a side without an adapter."""
    text = 'sides.fno = 5\n[sides.crm]\nadapter = "memory"\n' + GROUPS
    assert only_problem(tmp_path, text) == "replica.toml: [sides.fno]: must be a table, not int"
