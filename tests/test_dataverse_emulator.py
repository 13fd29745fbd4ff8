"""The Dataverse emulator over real HTTPS: Entra ID tokens (httpx and msal), the bearer check,
WhoAmI, table definitions, and ``python -m emulators.dataverse``."""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from dataverse_client import API, HEADERS, api, error_of, tls, token_response
from emulators.dataverse import DataverseEmulator


@pytest.fixture(autouse=True)
def _no_ca_bundle_override(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests (under msal) lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's
    # verify= (psf/requests#3829): without this msal would not trust the emulator's CA here.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[DataverseEmulator]:
    async with DataverseEmulator(tmp_path) as emulator:
        yield emulator


def _aad_code(response: httpx.Response) -> tuple[int, str, list[int]]:
    body = response.json()
    assert {"error", "error_description", "timestamp", "trace_id", "correlation_id"} <= set(body)
    return response.status_code, body["error"], body["error_codes"]


@pytest.mark.anyio
async def test_a_good_secret_gets_a_bearer_token(crm: DataverseEmulator) -> None:
    """Client credentials with the right secret and scope answer a bearer token."""
    answer = await token_response(crm)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["access_token"]


@pytest.mark.anyio
async def test_token_requests_are_refused_with_entra_ids_errors(crm: DataverseEmulator) -> None:
    """Wrong secret, unknown client, unknown tenant and wrong scope answer Entra ID's errors."""
    wrong = await token_response(crm, client_secret="not-the-secret")
    assert _aad_code(wrong) == (401, "invalid_client", [7000215])
    assert "not-the-secret" not in wrong.text
    unknown = await token_response(crm, client_id="00000000-0000-0000-0000-000000000001")
    assert _aad_code(unknown) == (400, "unauthorized_client", [700016])
    tenant = await token_response(crm, tenant="contoso.onmicrosoft.com")
    assert _aad_code(tenant) == (400, "invalid_request", [90002])
    scope = await token_response(crm, scope="https://elsewhere.crm.dynamics.com/.default")
    assert _aad_code(scope) == (400, "invalid_scope", [500011])


@pytest.mark.anyio
async def test_api_calls_need_a_valid_bearer_token(crm: DataverseEmulator) -> None:
    """No token, an unknown one and an expired one answer 401 with WWW-Authenticate."""
    async with httpx.AsyncClient(base_url=crm.url + API, verify=tls(crm)) as client:
        for headers in ({}, {"Authorization": "Bearer made-up"}):
            answer = await client.get("WhoAmI", headers={**HEADERS, **headers})
            assert answer.status_code == 401
            assert "authorization_uri=" in answer.headers["WWW-Authenticate"]
            assert error_of(answer)[0].startswith("0x")
            assert answer.headers["x-ms-dop-hint"] == "4"
    async with api(crm) as client:
        assert (await client.get("WhoAmI")).status_code == 200
        crm.expire_tokens()
        assert (await client.get("WhoAmI")).status_code == 401


@pytest.mark.anyio
async def test_expired_tokens_after_their_lifetime(tmp_path: Path) -> None:
    """A token past token_lifetime_s is refused like an expired one."""
    async with DataverseEmulator(tmp_path, token_lifetime_s=0) as crm:
        async with api(crm) as client:
            assert (await client.get("WhoAmI")).status_code == 401


@pytest.mark.anyio
async def test_whoami_names_each_apps_own_systemuser(crm: DataverseEmulator) -> None:
    """WhoAmI answers the caller's systemuser; the two app registrations are two users."""
    async with api(crm) as replicator, api(crm, user=True) as user:
        mine = (await replicator.get("WhoAmI")).json()
        theirs = (await user.get("WhoAmI")).json()
    assert mine["UserId"] == crm.systemuser_id and theirs["UserId"] == crm.user_systemuser_id
    assert mine["OrganizationId"] == theirs["OrganizationId"]
    assert mine["BusinessUnitId"]
    assert crm.db.get("systemusers", crm.systemuser_id) is not None


def _msal_token(crm: DataverseEmulator, credential: object) -> dict[str, object]:
    app = msal.ConfidentialClientApplication(
        crm.client_id,
        client_credential=credential,
        authority=f"{crm.authority}/{crm.tenant_id}",
        instance_discovery=False,
        verify=str(crm.ca_file),
    )
    return dict(app.acquire_token_for_client([f"{crm.url}/.default"]))


@pytest.mark.anyio
async def test_msal_gets_a_token_with_the_secret(crm: DataverseEmulator) -> None:
    """msal discovers the tenant, posts client credentials and the token works on the API."""
    result = await anyio.to_thread.run_sync(_msal_token, crm, crm.client_secret)
    assert "access_token" in result, result.get("error_description")
    headers = {**HEADERS, "Authorization": f"Bearer {result['access_token']}"}
    async with httpx.AsyncClient(base_url=crm.url + API, verify=tls(crm)) as client:
        assert (await client.get("WhoAmI", headers=headers)).status_code == 200


def _certificate() -> tuple[bytes, bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "replicator")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    return key_pem, cert_pem, cert.fingerprint(hashes.SHA1()).hex()


@pytest.mark.anyio
async def test_msal_gets_a_token_with_a_registered_certificate(tmp_path: Path) -> None:
    """A client assertion signed by the registered certificate is accepted; another is not."""
    key_pem, cert_pem, thumbprint = _certificate()
    other_key, _, _ = _certificate()
    async with DataverseEmulator(tmp_path, client_certificate_pem=cert_pem) as crm:
        good = {"private_key": key_pem.decode(), "thumbprint": thumbprint,
                "public_certificate": cert_pem.decode()}  # fmt: skip
        result = await anyio.to_thread.run_sync(_msal_token, crm, good)
        assert "access_token" in result, result.get("error_description")
        forged = {**good, "private_key": other_key.decode()}
        refused = await anyio.to_thread.run_sync(_msal_token, crm, forged)
        assert refused.get("error") == "invalid_client"


@pytest.mark.anyio
async def test_no_secret_in_a_repr(crm: DataverseEmulator) -> None:
    """The emulator's repr names its URL, never the client secrets."""
    text = repr(crm) + repr(crm._auth) + repr(list(crm._auth.apps.values()))
    assert crm.client_secret not in text and crm.user_client_secret not in text


@pytest.mark.anyio
async def test_table_definition_with_attributes_keys_and_relationships(
    crm: DataverseEmulator,
) -> None:
    """EntityDefinitions(LogicalName='account') expands Attributes, Keys and lookups."""
    query = (
        "EntityDefinitions(LogicalName='account')?$select=LogicalName,EntitySetName,"
        "PrimaryIdAttribute,ChangeTrackingEnabled&$expand=Attributes($select=LogicalName,"
        "AttributeType,AttributeTypeName,Targets,MaxLength,IsValidForCreate),Keys,"
        "ManyToOneRelationships($select=ReferencingAttribute,ReferencedEntity,"
        "ReferencingEntityNavigationPropertyName)"
    )
    async with api(crm) as client:
        account = (await client.get(query)).json()
    assert account["EntitySetName"] == "accounts" and account["ChangeTrackingEnabled"] is True
    attributes = {a["LogicalName"]: a for a in account["Attributes"]}
    name = attributes["name"]
    assert name["@odata.type"] == "#Microsoft.Dynamics.CRM.StringAttributeMetadata"
    assert name["AttributeTypeName"] == {"Value": "StringType"} and name["MaxLength"] == 160
    assert attributes["msdyn_company"]["Targets"] == ["cdm_company"]
    assert attributes["versionnumber"]["IsValidForCreate"] is False
    assert account["Keys"][0]["KeyAttributes"] == ["msdyn_company", "accountnumber"]
    relations = {r["ReferencingAttribute"]: r for r in account["ManyToOneRelationships"]}
    group = relations["msdyn_customergroupid"]
    assert group["ReferencedEntity"] == "msdyn_customergroup"
    assert group["ReferencingEntityNavigationPropertyName"] == "msdyn_customergroupid"


@pytest.mark.anyio
async def test_table_definitions_by_entity_set_and_option_sets(crm: DataverseEmulator) -> None:
    """$filter on EntityDefinitions finds a table by set; a picklist cast expands options."""
    async with api(crm) as client:
        found = await client.get(
            "EntityDefinitions?$filter=EntitySetName eq 'accounts'&$select=LogicalName"
        )
        picklists = await client.get(
            "EntityDefinitions(LogicalName='account')/Attributes/"
            "Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName"
            "&$expand=OptionSet"
        )
        date = await client.get(
            "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='new_customersince')"
        )
        unknown = await client.get("EntityDefinitions(LogicalName='nosuchtable')")
    assert [t["LogicalName"] for t in found.json()["value"]] == ["account"]
    options = {p["LogicalName"]: p["OptionSet"]["Options"] for p in picklists.json()["value"]}
    customer = [o for o in options["customertypecode"] if o["Value"] == 3][0]
    assert customer["Label"]["UserLocalizedLabel"]["Label"] == "Customer"
    assert date.json()["DateTimeBehavior"] == {"Value": "DateOnly"}
    assert date.json()["Format"] == "DateOnly"
    assert unknown.status_code == 404


@pytest.mark.anyio
async def test_the_module_runs_the_emulator_and_writes_emulator_json(tmp_path: Path) -> None:
    """python -m emulators.dataverse serves, writes a 0600 emulator.json, stops on SIGTERM."""
    command = [sys.executable, "-m", "emulators.dataverse", "--dir", str(tmp_path), "--port", "0"]
    async with await anyio.open_process(command) as process:
        assert process.stdout is not None
        output = b""
        with anyio.fail_after(20):
            async for chunk in process.stdout:
                output += chunk
                if b"Ctrl+C" in output:
                    break
        connection = json.loads((tmp_path / "emulator.json").read_text())
        assert stat.S_IMODE(os.stat(tmp_path / "emulator.json").st_mode) == 0o600
        assert connection["client_secret"].encode() not in output
        async with httpx.AsyncClient(verify=tls_of(connection)) as client:
            answer = await token_of(client, connection)
            assert answer.status_code == 200
        process.terminate()
        with anyio.fail_after(20):
            assert await process.wait() == 0


def tls_of(connection: dict[str, str]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=connection["ca_file"])


async def token_of(client: httpx.AsyncClient, connection: dict[str, str]) -> httpx.Response:
    return await client.post(
        f"{connection['authority']}/{connection['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": connection["client_id"],
            "client_secret": connection["client_secret"],
            "scope": f"{connection['url']}/.default",
        },
    )
