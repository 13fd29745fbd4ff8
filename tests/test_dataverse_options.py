"""The Dataverse side's options: every problem named at once, paths resolved, the secret hidden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.dataverse.options import Options, check_options, load_options, secret
from replicator.errors import ConfigError

SECRET = "very-secret-value"


def good(**changes: Any) -> dict[str, Any]:
    """Valid options with ``changes`` (a value None removes the option)."""
    options = {
        "url": "https://contoso.crm4.dynamics.com",
        "tenant_id": "contoso.onmicrosoft.com",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret_env": "CRM_TEST_SECRET",
    }
    options.update(changes)
    return {key: value for key, value in options.items() if value is not None}


@pytest.fixture(autouse=True)
def client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret is in its variable unless a test removes it."""
    monkeypatch.setenv("CRM_TEST_SECRET", SECRET)


def test_valid_options_have_no_problem() -> None:
    """A complete set of options passes."""
    assert check_options("crm", good(page_size=5000, batch_size=1000, max_in_flight=52)) == []


def test_every_problem_is_named_at_once() -> None:
    """Unknown, missing, mistyped and out-of-range options are all reported, one line each."""
    options = good(url="http://contoso.crm.dynamics.com/x", client_id=None, colour="blue")
    options.update(page_size=True, batch_size=1001, max_in_flight=0, timeout_s="60")
    assert check_options("crm", options) == [
        "unknown option 'colour' for the dataverse adapter (known: url, tenant_id, client_id, "
        "client_secret_env, certificate, authority, ca_file, poll_interval_ms, "
        "max_poll_interval_ms, page_size, batch_size, max_in_flight, timeout_s)",
        "client_id: required (the app registration's client id)",
        "page_size: must be an integer, got true",
        'timeout_s: must be a number, got "60"',
        "batch_size: must be an integer >= 1 and <= 1000, got 1001",
        "max_in_flight: must be an integer >= 1 and <= 52, got 0",
        'url: must be an https:// URL, got "http://contoso.crm.dynamics.com/x"',
    ]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"url": "https://contoso.crm.dynamics.com/api"}, "url: must be https://<host> with no"),
        ({"authority": "login.microsoftonline.com"}, "authority: must be an https:// URL"),
        ({"tenant_id": "  "}, "tenant_id: must not be empty"),
        ({"max_poll_interval_ms": 10}, "max_poll_interval_ms: must be >= poll_interval_ms (1000)"),
        ({"client_secret_env": None}, "client_secret_env or certificate: one is required"),
        ({"certificate": "app.pem"}, "client_secret_env and certificate: give one of them"),
        ({"client_secret_env": "CRM SECRET"}, "client_secret_env: must be an environment var"),
        (
            {"client_secret_env": "CRM_UNSET_SECRET"},
            "client_secret_env: the environment variable CRM_UNSET_SECRET is not",
        ),
    ],
)
def test_a_wrong_value_is_named(changes: dict[str, Any], problem: str) -> None:
    """Each wrong value gives one problem naming the option."""
    problems = check_options("crm", good(**changes))
    assert len(problems) == 1 and problems[0].startswith(problem)


def test_check_options_changes_nothing_and_needs_no_secret_value() -> None:
    """The options are left as given, and no problem shows the secret."""
    options = good(page_size=0)
    before = dict(options)
    problems = check_options("crm", options)
    assert options == before and problems and not [p for p in problems if SECRET in p]


def test_paths_are_relative_to_the_config_dir(tmp_path: Path) -> None:
    """certificate and ca_file are resolved against the config's directory."""
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "app.pem").write_text("x")
    loaded = load_options(
        good(client_secret_env=None, certificate="app.pem", ca_file="ca.pem", url="https://h/"),
        tmp_path,
    )
    assert loaded.certificate == str(tmp_path / "app.pem")
    assert loaded.ca_file == str(tmp_path / "ca.pem")
    assert loaded.url == "https://h"


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A ca_file that does not exist is named with its resolved path."""
    with pytest.raises(ConfigError, match=f"ca_file: no file {tmp_path / 'ca.pem'}"):
        load_options(good(ca_file="ca.pem"), tmp_path)


def test_the_secret_is_read_when_used_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """secret() reads the variable at use time; the options' repr holds only its name."""
    options = load_options(good(), Path("."))
    assert SECRET not in repr(options) and "CRM_TEST_SECRET" in repr(options)
    assert secret(options) == SECRET
    monkeypatch.setenv("CRM_TEST_SECRET", "rotated")
    assert secret(options) == "rotated"
    monkeypatch.delenv("CRM_TEST_SECRET")
    with pytest.raises(ConfigError, match="environment variable CRM_TEST_SECRET is not set"):
        secret(options)


def test_load_options_raises_every_problem() -> None:
    """load_options raises a ConfigError listing each problem."""
    with pytest.raises(ConfigError) as caught:
        load_options(good(page_size=0, batch_size=0), Path("."))
    assert len(caught.value.problems) == 2
    assert isinstance(load_options(good(), Path(".")), Options)
