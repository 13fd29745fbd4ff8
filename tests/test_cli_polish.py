"""The CLI as a new user tries it: ``--version``, log options after the subcommand, and
``REPLICATOR_CONFIG`` instead of ``--config``."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from test_operations import two_errors

from conftest import COMPANY_CUSTOMERS_MAP, write_config
from replicator import cli


@pytest.fixture
def logging_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The (format, level) ``main`` configures logging with, instead of configuring it."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(cli, "configure_logging", lambda fmt, level: calls.append((fmt, level)))
    return calls


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    """``replicator --version`` prints ``replicator <version>`` and exits 0."""
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"replicator {cli.version()}"
    assert cli.version()[0].isdigit()


def test_log_options_are_taken_before_or_after_the_subcommand(
    tmp_path: Path, logging_calls: list[tuple[str, str]]
) -> None:
    """``--log-format``/``--log-level`` work on either side of the subcommand (after wins)."""
    cfg = str(write_config(tmp_path, COMPANY_CUSTOMERS_MAP))
    assert cli.main(["validate", "--config", cfg, "--log-format", "json"]) == 0
    assert cli.main(["--log-level", "debug", "validate", "--config", cfg]) == 0
    argv = ["--log-format", "console", "validate", "--log-format", "json", "--config", cfg]
    assert cli.main(argv) == 0
    assert cli.main(["validate", "--config", cfg]) == 0
    assert logging_calls == [
        ("json", "info"),
        ("auto", "debug"),
        ("json", "info"),
        ("auto", "info"),
    ]


def test_the_config_comes_from_replicator_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logging_calls: list[tuple[str, str]],
) -> None:
    """Without ``--config``, ``status``, ``errors`` (and the others) read
    ``$REPLICATOR_CONFIG``; with neither, exit 2 saying so."""
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    monkeypatch.delenv("REPLICATOR_CONFIG", raising=False)
    assert cli.main(["status"]) == 2
    assert "status: give --config FILE, or set REPLICATOR_CONFIG" in capsys.readouterr().err
    monkeypatch.setenv("REPLICATOR_CONFIG", str(cfg))
    assert cli.main(["pause", "customers"]) == 0
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "map 'customers' paused" in out and "customers  paused" in out
    assert cli.main(["errors", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    bad = tmp_path / "bad.toml"
    bad.write_text("[state]\n", encoding="utf-8")
    assert cli.main(["status", "--config", str(bad)]) == 2  # --config wins over the variable
    assert "bad.toml: " in capsys.readouterr().err


def test_run_takes_its_config_from_replicator_config_not_the_demo(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logging_calls: list[tuple[str, str]],
) -> None:
    """``run`` with ``$REPLICATOR_CONFIG`` set runs that config (here a bad one: exit 2
    naming it), not the embedded demo."""
    bad = tmp_path / "daemon.toml"
    bad.write_text('[http]\nlisten = "0.0.0.0:8400"\n', encoding="utf-8")
    monkeypatch.setenv("REPLICATOR_CONFIG", str(bad))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "--log-format", "json"]) == 2
    err = capsys.readouterr().err
    assert 'daemon.toml: [http]: listen = "0.0.0.0:8400" is not a loopback' in err
    assert not (tmp_path / "replicator-demo").exists()


@pytest.mark.anyio
async def test_errors_list_filters_by_map_side_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logging_calls: list[tuple[str, str]]
) -> None:
    """``errors --map/--side/--reason`` list only the matching entries (as the console)."""
    cfg = str(await two_errors(tmp_path))
    capsys.readouterr()  # the engine's log lines

    async def listed(*options: str) -> list[str]:
        argv = ["errors", "--config", cfg, "--json", *options]
        assert await anyio.to_thread.run_sync(cli.main, argv) == 0
        return [e["map"] for e in json.loads(capsys.readouterr().out)]

    assert await listed() == ["customer_groups", "customers"]
    assert await listed("--map", "customers") == ["customers"]
    assert await listed("--side", "crm") == []
    assert await listed("--reason", "REFUSED", "--side", "fno") == ["customer_groups", "customers"]
