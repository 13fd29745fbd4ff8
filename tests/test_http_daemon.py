"""The daemon's HTTP endpoint end to end: ``replicator run`` on two SQLite files with
``[http] listen``, reached over loopback by ``httpx`` and by the CLI, as an operator would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_ownership import CRM_ROWS, CRM_SCHEMA, FNO_SCHEMA, MAP

from daemon import (
    Daemon,
    cli,
    create_db,
    execute,
    replicator_argv,
    wait_rows,
    write_config,
)

pytestmark = pytest.mark.slow

TOKEN, TOKEN_ENV = "daemon-token-51d0", "REPLICATOR_H2_TOKEN"

BEARER = {"authorization": f"Bearer {TOKEN}"}


def sides(tmp_path: Path, http: str) -> Path:
    """Two SQLite sides in ``tmp_path`` and a config with ``http`` (a ``[http]`` table)."""
    create_db(tmp_path / "fno.db", FNO_SCHEMA)
    create_db(tmp_path / "crm.db", CRM_SCHEMA)
    return write_config(tmp_path, http + MAP)


def token_http(listen: str = "127.0.0.1:0") -> str:
    return f'[http]\nlisten = "{listen}"\ntoken_env = "{TOKEN_ENV}"\n'


def add_customer(tmp_path: Path, account: str, name: str) -> None:
    execute(
        tmp_path / "fno.db", "INSERT INTO customers (account, name) VALUES (?, ?)", (account, name)
    )


def run_cli(*args: str, token: str | None) -> subprocess.CompletedProcess[str]:
    """``replicator ARGS`` with ``token`` (None: none) in the token's variable."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    argv = replicator_argv(*args)
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def url_of(daemon: Daemon) -> str:
    return str(daemon.wait_event("http_listening")["url"])


def summary(status: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(m["map"], m["state"], m["links"], m["errors"]) for m in status["maps"]]


def test_the_cli_acts_on_the_daemon_through_its_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the endpoint up, status, pause and resume go through the daemon's /api (a
    wrong token there fails the CLI); what they print matches what /api answers."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    cfg = sides(tmp_path, token_http())
    with Daemon(cfg).start() as daemon:
        url = url_of(daemon)
        add_customer(tmp_path, "C1", "Contoso")
        wait_rows(tmp_path / "crm.db", CRM_ROWS, [("C1", "Contoso")])
        shown = run_cli("status", "--config", str(cfg), "--json", token=TOKEN)
        api = httpx.get(f"{url}/api/status", headers=BEARER).json()
        assert summary(json.loads(shown.stdout)) == summary(api) == [("customers", "running", 1, 0)]
        refused = run_cli("pause", "customers", "--config", str(cfg), token="wrong")
        assert refused.returncode == 1 and "refused the token" in refused.stderr
        assert TOKEN not in refused.stderr + refused.stdout
        paused = run_cli("pause", "customers", "--config", str(cfg), token=TOKEN)
        assert (paused.returncode, paused.stdout.strip()) == (0, "map 'customers' paused")
        api = httpx.get(f"{url}/api/status", headers=BEARER).json()
        assert summary(api) == [("customers", "paused", 1, 0)]
        add_customer(tmp_path, "C2", "Fabrikam")
        resumed = httpx.post(f"{url}/api/maps/customers/resume", headers=BEARER)
        assert resumed.json() == {"map": "customers", "paused": False}
        wait_rows(tmp_path / "crm.db", CRM_ROWS, [("C1", "Contoso"), ("C2", "Fabrikam")])
        assert daemon.stop() == 0
    shown_everywhere = daemon.log_path.read_text("utf-8") + shown.stdout + shown.stderr
    assert TOKEN not in shown_everywhere + paused.stdout + paused.stderr  # the secret never shows


def test_refused_requests_change_nothing_in_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pause without the token (or with a wrong one) is 401 and the map keeps running."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with Daemon(sides(tmp_path, token_http())).start() as daemon:
        url = url_of(daemon)
        for headers in ({}, {"authorization": "Bearer nope"}):
            reply = httpx.post(f"{url}/api/maps/customers/pause", headers=headers)
            assert reply.status_code == 401
        assert (httpx.get(f"{url}/healthz")).json() == {"status": "ok"}
        add_customer(tmp_path, "C1", "Contoso")
        wait_rows(tmp_path / "crm.db", CRM_ROWS, [("C1", "Contoso")])
        api = httpx.get(f"{url}/api/status", headers=BEARER).json()
        assert summary(api) == [("customers", "running", 1, 0)]
        assert TOKEN not in (tmp_path / "replicator.log").read_text("utf-8")


def test_without_the_endpoint_the_cli_works_on_the_store(tmp_path: Path) -> None:
    """A daemon without ``[http]``: pause and status act on the store, found through
    ``REPLICATOR_CONFIG``, and the daemon follows."""
    cfg = sides(tmp_path, "")
    with Daemon(cfg).start():
        env_cfg = {**os.environ, "REPLICATOR_CONFIG": str(cfg)}
        pause = subprocess.run(
            replicator_argv("pause", "customers", "--log-format", "json"),
            capture_output=True,
            text=True,
            env=env_cfg,
            timeout=60,
            check=False,
        )
        assert (pause.returncode, pause.stdout.strip()) == (0, "map 'customers' paused")
        status = subprocess.run(
            replicator_argv("status", "--json"),
            capture_output=True,
            text=True,
            env=env_cfg,
            timeout=60,
            check=False,
        )
        assert summary(json.loads(status.stdout)) == [("customers", "paused", 0, 0)]
        add_customer(tmp_path, "C1", "Contoso")
        assert cli("resume", "customers", "--config", str(cfg)).returncode == 0
        wait_rows(tmp_path / "crm.db", CRM_ROWS, [("C1", "Contoso")])


def test_a_second_daemon_names_the_first_not_its_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second ``run`` of a config whose daemon runs says who owns the store (exit 1)."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    cfg = sides(tmp_path, token_http("127.0.0.1:0"))
    with Daemon(cfg).start():
        second = cli("run", "--config", str(cfg))
        assert second.returncode == 1 and "is owned by a daemon (pid" in second.stderr


def test_a_listen_off_loopback_without_a_token_is_refused_at_start(tmp_path: Path) -> None:
    """Exit 2 naming the file and ``[http] listen``, before anything is created."""
    cfg = sides(tmp_path, '[http]\nlisten = "0.0.0.0:0"\n')
    done = cli("run", "--config", str(cfg))
    assert done.returncode == 2, done.stderr
    assert 'replicator.toml: [http]: listen = "0.0.0.0:0" is not a loopback' in done.stderr
    assert not (tmp_path / "state.db").exists()


def test_a_token_variable_that_is_not_set_is_refused_at_start(tmp_path: Path) -> None:
    """Exit 2 naming ``[http] token_env`` and the variable; the value is never shown."""
    done = run_cli("run", "--config", str(sides(tmp_path, token_http("0.0.0.0:0"))), token=None)
    assert done.returncode == 2
    assert f"replicator.toml: [http] token_env: the environment variable {TOKEN_ENV}" in (
        done.stderr
    )
    assert not (tmp_path / "state.db").exists()


def test_a_request_hung_for_30_s_does_not_delay_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that sends half a request and waits 30 s: every change made meanwhile
    still replicates, one after another; then its request completes. (The seconds each
    change took, with and without the hung client, are printed, not asserted.)"""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with Daemon(sides(tmp_path, token_http())).start() as daemon:
        port = int(url_of(daemon).rsplit(":", 1)[1])
        expected: list[tuple[str, str]] = []
        before = replicate_for(tmp_path, expected, seconds=2.0)
        body = b'{"ids": [777]}'
        head = (
            f"POST /api/errors/retry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            f"{TOKEN}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=60) as hung:
            hung.sendall(head + body[:3])
            during = replicate_for(tmp_path, expected, seconds=HUNG_S)
            hung.sendall(body[3:])
            answer = receive_all(hung)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"queued":0}')
        print(f"replication seconds per change: without {spread(before)}, hung {spread(during)}")


HUNG_S = 30.0


def replicate_for(tmp_path: Path, expected: list[tuple[str, str]], seconds: float) -> list[float]:
    """Make one change after another for ``seconds``, waiting for each to arrive; how long
    each took (a deadline for the loop and figures to print, not a wait for work)."""
    took = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        account = f"C{len(expected):04d}"
        add_customer(tmp_path, account, "name")
        expected.append((account, "name"))
        wait_rows(tmp_path / "crm.db", CRM_ROWS, expected)
        took.append(time.monotonic() - started)
    return took


def spread(took: list[float]) -> str:
    ordered = sorted(took)
    return f"n={len(ordered)} median={ordered[len(ordered) // 2]:.3f} max={ordered[-1]:.3f}"


def receive_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data
