"""Errors name what and where, end to end: ``replicator validate`` and ``replicator run`` as
subprocesses against the Dataverse emulator (in this test's event loop, over real HTTPS).

Each mistake a partner makes connecting a Dataverse side gives one clear message, naming
the side, the entity and field where there is one, and what to do; ``validate`` exits 2 for
a bad config and 1 for a side it cannot reach now; ``run`` fails at start without a traceback.
No output ever holds the client secret.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from daemon import replicator_argv
from emulators.dataverse import STANDARD_TABLES, DataverseEmulator, Table

pytestmark = pytest.mark.anyio

SECRET_ENV = "CRM_TEST_SECRET"
WRONG_SECRET = "not-the-secret-0123456789"
TIMEOUT_S = 60.0


def untracked(table: Table) -> Table:
    """Payment terms without change tracking; every other standard table as it is."""
    if table.entity_set == "msdyn_paymentterms":
        return msgspec.structs.replace(table, change_tracking=False)
    return table


TABLES = tuple(untracked(t) for t in STANDARD_TABLES)

CUSTOMERS = """
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "msdyn_company.cdm_companycode" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "Name", crm = "name" } ]
"""

EVERY_SCHEMA_MISTAKE = """
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [
  { fno = "Name", crm = "name" },
  { fno = "Rating", crm = "new_rating" },
  { fno = "PaymentTerms", crm = "msdyn_customergroupid", lookup = "payment_terms" },
  { fno = "Phone", crm = "telephone1.number" },
]

[[maps]]
name = "payment_terms"
fno = "PaymentTerms"
crm = "msdyn_paymentterms"
key = [ { fno = "dataAreaId", crm = "msdyn_company.cdm_companycode" },
        { fno = "Name", crm = "msdyn_name" } ]
fields = [ { fno = "Description", crm = "msdyn_description" } ]

[[maps]]
name = "warehouses"
fno = "Warehouses"
crm = "msdyn_warehouses"
key = [ { fno = "WarehouseId", crm = "msdyn_warehouseidentifier" } ]
fields = [ { fno = "WarehouseName", crm = "msdyn_name" } ]
"""
"""A map keyed by a column no alternate key has, with a missing column, a lookup column
to another table than its map's, a dotted text column; a table without change tracking;
an entity set that does not exist."""


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[DataverseEmulator]:
    async with DataverseEmulator(tmp_path / "emulator", tables=TABLES) as emulator:
        yield emulator


def config(
    tmp_path: Path,
    crm: DataverseEmulator,
    maps: str = CUSTOMERS,
    *,
    drop: tuple[str, ...] = (),
    **options: Any,
) -> Path:
    """A config with a memory side ``fno`` and the emulator as side ``crm`` (``options``
    override or add to the crm side's, ``drop`` removes some)."""
    crm_options: dict[str, Any] = {
        "adapter": "dataverse",
        "url": crm.url,
        "tenant_id": crm.tenant_id,
        "client_id": crm.client_id,
        "client_secret_env": SECRET_ENV,
        "authority": crm.authority,
        "ca_file": str(crm.ca_file),
        "poll_interval_ms": 50,
        **options,
    }
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in crm_options.items() if k not in drop)
    path = tmp_path / "replicator.toml"
    path.write_text(
        '[state]\npath = "state.db"\n\n[sides.fno]\nadapter = "memory"\n\n'
        f"[sides.crm]\n{lines}\n{maps}",
        encoding="utf-8",
    )
    return path


class Done(msgspec.Struct, kw_only=True):
    """A finished command: its exit code, its errors (``error: ...`` lines) and all output."""

    code: int
    errors: list[str]
    output: str


async def replicator(
    crm: DataverseEmulator, *args: str, secret: str | None = None, **env: str
) -> Done:
    """``replicator --log-format json ARGS`` with the secret (the right one unless told) in
    its variable; checks that nothing printed a traceback or a secret."""
    environment = {**os.environ, SECRET_ENV: secret or crm.client_secret, **env}
    argv = replicator_argv("--log-format", "json", *args)
    with anyio.fail_after(TIMEOUT_S):
        done = await anyio.run_process(argv, check=False, env=environment)
    output = done.stdout.decode() + done.stderr.decode()
    assert "Traceback" not in output, output
    for secret_value in (crm.client_secret, crm.user_client_secret, WRONG_SECRET):
        assert secret_value not in output
    lines = done.stderr.decode().splitlines()
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    others = [line for line in lines if not line.startswith(("error: ", "{"))]
    assert not others, f"stderr lines that are neither an error nor a log event: {others}"
    return Done(code=done.returncode, errors=errors, output=output)


async def validate_and_run(crm: DataverseEmulator, path: Path, **env: str) -> tuple[Done, Done]:
    """``validate`` then ``run`` of ``path`` (which must fail at start)."""
    checked = await replicator(crm, "validate", "--config", str(path), **env)
    ran = await replicator(crm, "run", "--config", str(path), **env)
    return checked, ran


# -- signing in ------------------------------------------------------------------------------


async def test_a_good_config_validates(tmp_path: Path, crm: DataverseEmulator) -> None:
    """The config the other tests spoil validates: what they see comes from their mistake."""
    done = await replicator(crm, "validate", "--config", str(config(tmp_path, crm)))
    assert (done.code, done.errors) == (0, [])


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        (
            {"secret": WRONG_SECRET},
            [
                "AADSTS7000215: Invalid client secret provided.",
                f"Check the secret in the environment variable {SECRET_ENV}",
            ],
        ),
        (
            {"tenant_id": "fabrikam.onmicrosoft.com"},
            ["tenant fabrikam.onmicrosoft.com", "AADSTS90002", "Check tenant_id"],
        ),
        (
            {"client_id": "11111111-2222-3333-4444-555555555555"},
            ["client 11111111-2222-3333-4444-555555555555", "AADSTS700016", "Check client_id"],
        ),
        (
            {"url": "https://contoso.crm4.dynamics.com"},
            ["AADSTS500011", "Check url"],
        ),
        (
            {"drop": ("ca_file",)},
            ["its certificate is not trusted", "set ca_file"],
        ),
    ],
    ids=["wrong secret", "wrong tenant", "unknown client", "wrong url", "untrusted certificate"],
)
async def test_a_refused_sign_in_is_one_clear_message(
    tmp_path: Path, crm: DataverseEmulator, mistake: dict[str, Any], expected: list[str]
) -> None:
    """Entra refusing the app (or its TLS untrusted): validate exits 2 and run fails at start,
    each with one line naming the side, the cause and what to check."""
    secret = mistake.pop("secret", None)
    path = config(tmp_path, crm, **mistake)
    checked = await replicator(crm, "validate", "--config", str(path), secret=secret)
    ran = await replicator(crm, "run", "--config", str(path), secret=secret)
    assert checked.code == 2 and ran.code == 1
    assert checked.errors[0].startswith("replicator.toml: side crm: ")
    assert ran.errors[0].startswith("side crm: ")
    for done in (checked, ran):
        assert len(done.errors) == 1, done.errors
        assert all(part in done.errors[0] for part in expected), done.errors[0]


async def test_a_missing_secret_variable_is_a_config_error_naming_it(
    tmp_path: Path, crm: DataverseEmulator
) -> None:
    """The secret's variable unset: both commands exit 2 naming the variable, opening nothing."""
    path = config(tmp_path, crm, client_secret_env="CRM_TEST_NO_SUCH_SECRET")
    crm.requests.reset()
    for done in await validate_and_run(crm, path):
        assert done.code == 2
        assert done.errors == [
            "replicator.toml: [sides.crm]: client_secret_env: the environment variable "
            "CRM_TEST_NO_SUCH_SECRET is not set"
        ]
    assert crm.requests.count() == 0


# -- reaching the environment ------------------------------------------------------------------


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_environment_exits_1_at_validate_and_is_ridden_out_by_run(
    tmp_path: Path, crm: DataverseEmulator
) -> None:
    """Nothing listening: validate exits 1 (try again) naming side and address; the daemon
    logs one ``side_down`` with that reason and keeps trying until it is stopped."""
    nowhere = f"https://127.0.0.1:{free_port()}"
    path = config(tmp_path, crm, url=nowhere, authority=nowhere)
    checked = await replicator(crm, "validate", "--config", str(path))
    assert checked.code == 1
    reason = (
        f"side crm: cannot reach Entra ID at {nowhere} (tenant {crm.tenant_id}): Connection "
        "refused (check authority and the network: a firewall, a proxy?)"
    )
    assert checked.errors == [f"replicator.toml: {reason}; so it is not checked"]
    events = await daemon_events_until(crm, path, "daemon_started")
    down = [e for e in events if e["event"] == "side_down"]
    assert [(e["side"], e["reason"]) for e in down] == [("crm", reason)]


async def daemon_events_until(crm: DataverseEmulator, path: Path, last: str) -> list[Any]:
    """Start the daemon, read its JSON events until ``last``, then stop it (exit 0)."""
    argv = replicator_argv("--log-format", "json", "run", "--config", str(path))
    environment = {**os.environ, SECRET_ENV: crm.client_secret}
    events: list[Any] = []
    with anyio.fail_after(TIMEOUT_S):
        async with await anyio.open_process(argv, env=environment) as process:
            assert process.stderr is not None
            buffered = b""
            async for chunk in process.stderr:
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                events += [json.loads(line) for line in lines if line.startswith(b"{")]
                if any(e["event"] == last for e in events):
                    break
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
    assert crm.client_secret not in json.dumps(events)
    return events


# -- the tables --------------------------------------------------------------------------------


async def test_every_schema_mistake_is_named_in_one_run(
    tmp_path: Path, crm: DataverseEmulator
) -> None:
    """A missing entity set, column and alternate key, an untracked table, a lookup column to
    another table than its map's and a dotted text column: all named at once, at validate and
    at start, each naming map, side, entity and field, and what to do."""
    path = config(tmp_path, crm, EVERY_SCHEMA_MISTAKE)
    checked, ran = await validate_and_run(crm, path)
    at = "replicator.toml: map 'customers': side 'crm': entity 'accounts': "
    terms = "replicator.toml: map 'payment_terms': side 'crm': entity 'msdyn_paymentterms': "
    assert checked.errors == [
        at + "field 'new_rating': table 'account' has no column 'new_rating'",
        at + "field 'telephone1.number': column 'telephone1' is a String, not a lookup: "
        "drop '.number'",
        at + "key (accountnumber): no alternate key of table 'account' has exactly these "
        "columns (its keys: msdyn_accountnumberkey (msdyn_company, accountnumber))",
        at + "field 'msdyn_customergroupid': lookup column 'msdyn_customergroupid' refers to "
        "'msdyn_customergroups' (table 'msdyn_customergroup'), but the lookup's map is on "
        "'msdyn_paymentterms': map a column that refers to 'msdyn_paymentterms', or look up "
        "in the map of 'msdyn_customergroups'",
        terms + "table 'msdyn_paymentterm' does not track changes: turn on Track changes in "
        "the table's properties in make.powerapps.com (or set ChangeTrackingEnabled on its "
        "definition)",
        "replicator.toml: map 'warehouses': side 'crm': entity 'msdyn_warehouses': no table has "
        "this entity set name (a map names a table by its entity set name, e.g. 'accounts')",
    ]
    assert (checked.code, ran.code) == (2, 2)
    assert ran.errors == checked.errors


async def test_a_map_lookup_on_a_column_that_is_no_lookup_is_named(
    tmp_path: Path, crm: DataverseEmulator
) -> None:
    """``lookup = "<map>"`` on a text column: it cannot hold a reference, and the message
    says which entity set the column must refer to."""
    maps = CUSTOMERS.replace(
        '{ fno = "Name", crm = "name" }',
        '{ fno = "Name", crm = "name" },\n'
        '  { fno = "Parent", crm = "telephone1", lookup = "customers" }',
    )
    done = await replicator(crm, "validate", "--config", str(config(tmp_path, crm, maps)))
    assert done.code == 2
    assert done.errors == [
        "replicator.toml: map 'customers': side 'crm': entity 'accounts': field 'telephone1': "
        "column 'telephone1' is a String, not a lookup column, so it cannot hold a reference "
        "(the lookup's map is on 'accounts'): map a lookup column that refers to 'accounts'"
    ]


# -- the options -------------------------------------------------------------------------------


async def test_option_mistakes_are_all_named_at_once(
    tmp_path: Path, crm: DataverseEmulator
) -> None:
    """A wrong type and an unknown option: both commands exit 2 naming each, opening nothing."""
    path = config(tmp_path, crm, poll_interval_ms="fast", pool_size=4)
    crm.requests.reset()
    for done in await validate_and_run(crm, path):
        assert done.code == 2
        assert done.errors == [
            "replicator.toml: [sides.crm]: unknown option 'pool_size' for the dataverse "
            "adapter (known: url, tenant_id, client_id, client_secret_env, certificate, "
            "authority, ca_file, poll_interval_ms, max_poll_interval_ms, page_size, "
            "batch_size, max_in_flight, timeout_s)",
            'replicator.toml: [sides.crm]: poll_interval_ms: must be an integer, got "fast"',
        ]
    assert crm.requests.count() == 0
