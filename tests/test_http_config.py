"""The ``[http]`` table: where to listen, the token's variable, TLS files, the health grace."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config import GROUPS, SIDES, load, only_problem

from replicator.config import HttpConfig
from replicator.config.http_settings import is_loopback, parse_listen, resolve_token
from replicator.errors import ConfigError
from replicator.http.health import down_reasons


def with_http(*lines: str) -> str:
    return SIDES + "\n[http]\n" + "\n".join(lines) + "\n" + GROUPS


def test_http_is_off_without_listen(tmp_path: Path) -> None:
    """No ``[http]`` (or no ``listen`` in it): no listener."""
    assert load(tmp_path, SIDES + GROUPS).http.listen is None
    assert load(tmp_path, with_http("down_grace_s = 5")).http.listen is None


def test_listen_token_tls_and_grace_are_read(tmp_path: Path) -> None:
    """``listen`` splits into host and port; TLS files resolve against the config's folder."""
    http = load(
        tmp_path,
        with_http(
            'listen = "0.0.0.0:8400"',
            'token_env = "REPLICATOR_TOKEN"',
            'tls_cert = "certs/http.pem"',
            'tls_key = "certs/http.key"',
            "down_grace_s = 90",
        ),
    ).http
    assert (http.host, http.port, http.token_env, http.down_grace_s) == (
        "0.0.0.0",
        8400,
        "REPLICATOR_TOKEN",
        90.0,
    )
    assert http.tls_cert == (tmp_path / "certs/http.pem").resolve()
    assert http.file == "replica.toml"


def test_non_loopback_listen_without_a_token_is_refused(tmp_path: Path) -> None:
    """Anyone could reach it: the message names the file, ``[http] listen`` and the way out."""
    problem = only_problem(tmp_path, with_http('listen = "0.0.0.0:8400"'))
    assert problem.startswith('replica.toml: [http]: listen = "0.0.0.0:8400" is not a loopback')
    assert "token_env" in problem


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('listen = "8400"', 'listen must be "host:port"'),
        ('listen = "::1:8400"', 'listen must be "host:port"'),
        ('listen = "127.0.0.1:99999"', 'listen must be "host:port"'),
        ("listen = 8400", 'listen must be "host:port"'),
        ('token_env = ""', "token_env must name an environment variable"),
        ('tls_cert = "a.pem"', "tls_cert needs tls_key too"),
        ("down_grace_s = -1", "down_grace_s must be a number >= 0, got -1"),
        ('lisen = "127.0.0.1:1"', "unknown key 'lisen' (did you mean 'listen'?)"),
    ],
)
def test_bad_http_values_are_named(tmp_path: Path, line: str, expected: str) -> None:
    """Each bad value of ``[http]`` is one problem naming the table and the key."""
    problem = only_problem(tmp_path, with_http(line))
    assert problem.startswith("replica.toml: [http]: ") and expected in problem, problem


def test_listen_parses_ipv4_ipv6_and_names() -> None:
    assert parse_listen("127.0.0.1:8400") == ("127.0.0.1", 8400)
    assert parse_listen("[::1]:0") == ("::1", 0)
    assert parse_listen("localhost:80") == ("localhost", 80)
    assert parse_listen(":80") is None and parse_listen("host:") is None


def test_loopback_is_this_machine_only() -> None:
    assert all(map(is_loopback, ["localhost", "127.0.0.1", "127.8.0.1", "::1"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com"]))


def test_the_token_comes_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token is read from the variable ``token_env`` names; unset or empty is an
    error naming the file, ``[http] token_env`` and the variable, never a value."""
    http = HttpConfig(token_env="H2_TEST_TOKEN", file="r.toml")
    monkeypatch.setenv("H2_TEST_TOKEN", " s3cret ")
    assert resolve_token(http) == "s3cret"
    assert resolve_token(HttpConfig()) is None
    monkeypatch.setenv("H2_TEST_TOKEN", "")
    with pytest.raises(ConfigError) as info:
        resolve_token(http)
    assert info.value.problems[0].startswith("r.toml: [http] token_env: the environment")
    assert "H2_TEST_TOKEN" in info.value.problems[0]


def test_a_side_is_unhealthy_only_past_its_grace() -> None:
    """``down_reasons`` names the sides down longer than the grace, and only those."""
    now = 1000.0
    assert down_reasons({"crm": now - 30}, 60, now) == []
    assert down_reasons({"crm": now - 75, "fno": now - 5}, 60, now) == [
        "side 'crm' unreachable for 75 s (grace 60 s)"
    ]
