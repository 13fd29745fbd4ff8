"""config/dataverse.toml against the Dataverse emulator, run as a partner runs it: the
emulator by ``python -m emulators.dataverse``, the config's [sides.crm] pointed at it, the
demo's F&O file, ``replicator validate`` and a short ``replicator run``."""

from __future__ import annotations

import json
import re
import sqlite3
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon import Daemon, cli, wait_for
from replicator.demo import create_demo

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "dataverse.toml"
SECRET_ENV = "TEST_DATAVERSE_CONFIG_SECRET"
API = "/api/data/v9.2/"

# F&O rows of each map, within the map's F&O filter, and the entity set they go to
EXPECTED = {
    "customer_groups": ("SELECT count(*) FROM CustCustomerGroup", "msdyn_customergroups"),
    "customers": (
        "SELECT count(*) FROM CustomersV3 WHERE PartyType = 'Organization'",
        "accounts",
    ),
    "released_products": (
        "SELECT count(*) FROM EcoResReleasedProductV2",
        "msdyn_sharedproductdetails",
    ),
}


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``python -m emulators.dataverse --dir D --port 0`` running; its emulator.json."""
    folder = tmp_path / "dataverse"
    argv = [sys.executable, "-m", "emulators.dataverse", "--dir", str(folder), "--port", "0"]
    with (tmp_path / "emulator.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        connection = folder / "emulator.json"

        def ready() -> dict[str, Any] | None:
            assert proc.poll() is None, (tmp_path / "emulator.log").read_text()
            return json.loads(connection.read_text()) if connection.exists() else None

        yield wait_for(ready, "the emulator's emulator.json", 30)
    finally:
        proc.terminate()
        proc.wait(30)


def pointed_at(connection: dict[str, Any], folder: Path) -> Path:
    """A copy of the config in ``folder``/config, its [sides.crm] options the emulator's,
    beside the demo's files (``folder``/replicator-demo, as ``replicator run`` makes them)."""
    create_demo(folder / "replicator-demo")
    crm = f"""[sides.crm]
adapter = "dataverse"
url = "{connection["url"]}"
tenant_id = "{connection["tenant_id"]}"
client_id = "{connection["client_id"]}"
client_secret_env = "{SECRET_ENV}"
authority = "{connection["authority"]}"
ca_file = "{connection["ca_file"]}"
poll_interval_ms = 100

"""
    text = CONFIG.read_text()
    text, replaced = re.subn(r"(?ms)^\[sides\.crm\]\n.*?(?=^\[)", crm, text)
    assert replaced == 1
    (folder / "config").mkdir()
    config = folder / "config" / "dataverse.toml"
    config.write_text(text)
    return config


def trust(connection: dict[str, Any]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=connection["ca_file"])


def rows_in(connection: dict[str, Any], entity_set: str) -> list[dict[str, Any]]:
    """Every row of an entity set, read as the emulator's second app ("a user")."""
    token = httpx.post(
        f"{connection['authority']}/{connection['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": connection["user_client_id"],
            "client_secret": connection["user_client_secret"],
            "scope": f"{connection['url']}/.default",
        },
        verify=trust(connection),
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    rows: list[dict[str, Any]] = []
    url: str | None = f"{connection['url']}{API}{entity_set}"
    with httpx.Client(headers=headers, verify=trust(connection)) as client:
        while url is not None:
            body = client.get(url).raise_for_status().json()
            rows += body["value"]
            url = body.get("@odata.nextLink")
    return rows


def fno_count(folder: Path, statement: str) -> int:
    with closing(sqlite3.connect(folder / "replicator-demo" / "fno.db")) as db:
        return int(db.execute(statement).fetchone()[0])


def test_the_dataverse_config_validates_against_the_emulator(
    emulator: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped config, pointed at the emulator, passes `replicator validate`."""
    monkeypatch.setenv(SECRET_ENV, emulator["client_secret"])
    config = pointed_at(emulator, tmp_path)
    done = cli("validate", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "dataverse.toml: ok (3 maps)" in done.stdout
    assert emulator["client_secret"] not in done.stdout + done.stderr


def test_a_run_syncs_the_demo_into_the_emulator(
    emulator: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short run copies every F&O row of each map (within its filter) into Dataverse."""
    monkeypatch.setenv(SECRET_ENV, emulator["client_secret"])
    config = pointed_at(emulator, tmp_path)
    with Daemon(config) as daemon:
        daemon.start(timeout=300)
        daemon.stop()
    assert emulator["client_secret"] not in daemon.log_path.read_text()
    counts = {
        name: (fno_count(tmp_path, statement), len(rows_in(emulator, entity_set)))
        for name, (statement, entity_set) in EXPECTED.items()
    }
    assert all(fno == crm for fno, crm in counts.values()), counts
    assert all(fno > 0 for fno, _ in counts.values()), counts
    accounts = rows_in(emulator, "accounts")
    assert {row["customertypecode"] for row in accounts} == {3}
    assert all(row["_transactioncurrencyid_value"] for row in accounts)
