"""The F&O adapter's pieces on their own: keys, values, options, $metadata, event payloads."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from fno_fake import FakeEntity, metadata

from adapters.fno.events import EventError, parse
from adapters.fno.keys import BadKey, condition, key_values, native_id, pairs, row_url
from adapters.fno.metadata import parse_metadata
from adapters.fno.options import check_options, load_options
from adapters.fno.schema import Entity, resolve
from adapters.fno.values import BadValue, from_fno, literal, to_fno
from replicator.adapter import EntitySpec

CUSTOMERS = FakeEntity(
    entity_set="CustomersV3",
    type_name="CustomerV3",
    key=("dataAreaId", "CustomerAccount"),
    fields={
        "dataAreaId": "Edm.String",
        "CustomerAccount": "Edm.String",
        "OrganizationName": "Edm.String",
        "CreditLimit": "Edm.Decimal",
        "OnHoldStatus": "CustVendorBlocked",
        "ModifiedDateTime": "Edm.DateTimeOffset",
    },
)
TYPES = parse_metadata(metadata([CUSTOMERS]).encode())
SPEC = EntitySpec(
    "CustomersV3", ("OrganizationName", "OnHoldStatus"), ("dataAreaId", "CustomerAccount")
)


def customers() -> Entity:
    found = resolve(SPEC, TYPES, poll_field=None)
    assert isinstance(found, Entity)
    return found


def test_metadata_gives_keys_types_and_enum_members() -> None:
    entity = TYPES["CustomersV3"]
    assert entity.key == ("dataAreaId", "CustomerAccount") and entity.company_specific
    hold = entity.properties["OnHoldStatus"]
    assert hold.type == "Microsoft.Dynamics.DataEntities.CustVendorBlocked"
    assert hold.members == ("No", "Invoice", "All")
    assert entity.properties["CustomerAccount"].max_length == 20


def test_native_id_is_the_key_predicate_with_quotes_doubled() -> None:
    entity = TYPES["CustomersV3"]
    nid = native_id(entity, {"dataAreaId": "USMF", "CustomerAccount": "O'Brien 1"})
    assert nid == "dataAreaId='usmf',CustomerAccount='O''Brien 1'"
    assert pairs(entity, nid) == [("dataAreaId", "'usmf'"), ("CustomerAccount", "'O''Brien 1'")]
    assert row_url(entity, nid) == "CustomersV3(dataAreaId='usmf',CustomerAccount='O''Brien%201')"
    assert condition(entity, nid) == "(dataAreaId eq 'usmf' and CustomerAccount eq 'O''Brien 1')"
    assert key_values(entity, nid) == {"dataAreaId": "usmf", "CustomerAccount": "O'Brien 1"}


@pytest.mark.parametrize("text", ["CustomerAccount='A'", "x", "dataAreaId='usmf',Other='A'", ""])
def test_a_native_id_that_is_not_the_key_is_refused(text: str) -> None:
    with pytest.raises(BadKey, match="CustomersV3"):
        pairs(TYPES["CustomersV3"], text)


def test_an_empty_string_is_none_and_none_is_sent_as_empty() -> None:
    prop = TYPES["CustomersV3"].properties["OrganizationName"]
    assert from_fno("CustomersV3", prop, "") is None
    assert to_fno("CustomersV3", prop, None) == ""
    assert from_fno("CustomersV3", prop, "Contoso") == "Contoso"
    with pytest.raises(BadValue, match="OrganizationName.*20 characters"):
        to_fno("CustomersV3", prop, "x" * 21)


def test_enums_are_member_names_in_bodies_and_typed_in_filters() -> None:
    prop = TYPES["CustomersV3"].properties["OnHoldStatus"]
    assert to_fno("CustomersV3", prop, "Invoice") == "Invoice"
    assert (
        literal("CustomersV3", prop, "All")
        == "Microsoft.Dynamics.DataEntities.CustVendorBlocked'All'"
    )
    with pytest.raises(BadValue, match="OnHoldStatus.*not a member.*No, Invoice, All"):
        to_fno("CustomersV3", prop, "Maybe")


def test_dates_are_utc_seconds_and_f_and_o_s_empty_date_is_none() -> None:
    prop = TYPES["CustomersV3"].properties["ModifiedDateTime"]
    assert from_fno("x", prop, "2026-12-02T10:00:00.123+01:00") == "2026-12-02T09:00:00Z"
    assert from_fno("x", prop, "1900-01-01T00:00:00Z") is None
    assert to_fno("x", prop, None) == "1900-01-01T00:00:00Z"
    with pytest.raises(BadValue, match="without an offset"):
        to_fno("x", prop, "2026-12-02T10:00:00")


GOOD = {
    "url": "https://contoso.operations.dynamics.com",
    "tenant_id": "contoso.onmicrosoft.com",
    "client_id": "11111111-2222-3333-4444-555555555555",
    "client_secret_env": "FNO_TEST_SECRET",
    "hook_key_env": "FNO_TEST_HOOK_KEY",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FNO_TEST_SECRET", "a-secret-value")
    monkeypatch.setenv("FNO_TEST_HOOK_KEY", "a-hook-key")


def test_good_options_have_no_problem(env: None, tmp_path: Path) -> None:
    assert check_options("fno", dict(GOOD)) == []
    loaded = load_options({**GOOD, "inbox": "in/box.db"}, tmp_path)
    assert loaded.feed == "events" and loaded.reconcile_minutes == 60
    assert loaded.inbox == str((tmp_path / "in/box.db").resolve())
    assert "a-secret-value" not in repr(loaded) and "a-hook-key" not in repr(loaded)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"feed": "stream"}, 'feed: must be "events" or "poll", got "stream"'),
        ({"hook_key_env": None}, "hook_key_env: required with feed"),
        ({"hook_key_env": "NOT_SET_ANYWHERE_X"}, "environment variable NOT_SET_ANYWHERE_X"),
        ({"client_secret_env": "NOPE_NOT_SET_Y"}, "environment variable NOPE_NOT_SET_Y"),
        ({"page_size": 20000}, "page_size"),
        ({"reconcile_minutes": -1}, "reconcile_minutes"),
        ({"reconcile_minutes": "hourly"}, "reconcile_minutes: must be an integer"),
        ({"url": "http://contoso"}, "url: must be an https:// URL"),
        ({"color": "red"}, "unknown option 'color' for the fno adapter"),
        ({"poll_fields": {"CustomersV3": ""}}, "poll_fields"),
    ],
)
def test_bad_options_are_named(env: None, change: dict[str, object], problem: str) -> None:
    options = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    problems = check_options("fno", options)
    assert any(problem in p for p in problems), problems


def test_poll_needs_no_hook_key(env: None) -> None:
    options = {k: v for k, v in GOOD.items() if k != "hook_key_env"}
    assert check_options("fno", {**options, "feed": "poll"}) == []


def event(message: str = "Update", **record: object) -> dict[str, object]:
    attributes = [{"key": k, "value": v} for k, v in record.items()]
    target = {"Attributes": attributes, "LogicalName": "mserp_custcustomerv3entity"}
    return {
        "MessageName": message,
        "PrimaryEntityName": "mserp_custcustomerv3entity",
        "InputParameters": [{"key": "Target", "value": target}],
        "OperationId": "0c5a1f0e-0000-0000-0000-000000000001",
    }


def body(*items: object) -> bytes:
    return msgspec.json.encode(list(items) if len(items) != 1 else items[0])


def test_a_data_event_names_its_row_by_key() -> None:
    found = parse(
        body(event(mserp_dataareaid="USMF", mserp_customeraccount="US-001", mserp_name="x")),
        {"CustomersV3": customers()},
        {},
    )
    [one] = found
    assert (one.entity, one.native_id, one.op) == (
        "CustomersV3",
        "dataAreaId='usmf',CustomerAccount='US-001'",
        "upsert",
    )


def test_a_delete_is_known_by_its_pre_image_and_other_entities_are_dropped() -> None:
    delete = {
        "MessageName": "Delete",
        "PrimaryEntityName": "CustomersV3",
        "InputParameters": [{"key": "Target", "value": {"Id": "abc"}}],
        "PreEntityImages": [
            {
                "key": "PreImage",
                "value": {"Attributes": {"dataAreaId": "usmf", "CustomerAccount": "B"}},
            }
        ],
    }
    other = {**event(mserp_x="1"), "PrimaryEntityName": "mserp_vendvendorv2entity"}
    found = parse(body(delete, other), {"CustomersV3": customers()}, {})
    assert [(e.native_id, e.op) for e in found] == [
        ("dataAreaId='usmf',CustomerAccount='B'", "delete")
    ]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "no event"),
        (b"[1]", "not a JSON object"),
        (msgspec.json.encode({"MessageName": "Upsert", "PrimaryEntityName": "x"}), "MessageName"),
        (msgspec.json.encode({"MessageName": "Create"}), "PrimaryEntityName"),
        (
            msgspec.json.encode(event(mserp_dataareaid="usmf")),
            "lacks its key field(s) CustomerAccount",
        ),
        (msgspec.json.encode({**event(), "InputParameters": []}), "no Target or PreImage"),
    ],
)
def test_a_malformed_event_is_refused_with_its_reason(raw: bytes, why: str) -> None:
    with pytest.raises(EventError, match=why.replace("(", r"\(").replace(")", r"\)")):
        parse(raw, {"CustomersV3": customers()}, {})


def test_resolve_names_every_missing_field_and_a_wrong_poll_field() -> None:
    spec = EntitySpec("CustomersV3", ("Nope", "OrganizationName"), ("dataAreaId", "Gone"))
    problems = resolve(spec, TYPES, poll_field="CreditLimit")
    assert isinstance(problems, list)
    assert any("'Gone'" in p for p in problems) and any("'Nope'" in p for p in problems)
    assert any("CreditLimit" in p and "Edm.DateTimeOffset" in p for p in problems)
    assert resolve(EntitySpec("customersv3", ("x",), ()), TYPES, poll_field=None) == [
        "no data entity 'customersv3' in $metadata (did you mean 'CustomersV3'?)"
    ]


def test_a_business_event_envelope_names_its_row_by_its_keys() -> None:
    envelope = {
        "BusinessEventId": "CustomersV3_Delete",
        "BusinessEventLegalEntity": "USMF",
        "ControlNumber": 5637144577,
        "EventId": "8E7D2F9A-0000-0000-0000-000000000001",
        "EventType": "Delete",
        "EntityName": "CustomerV3",
        "EntitySetName": "CustomersV3",
        "Keys": {"dataAreaId": "USMF", "CustomerAccount": "US-002"},
    }
    [one] = parse(body(envelope), {"CustomersV3": customers()}, {})
    assert (one.native_id, one.op) == ("dataAreaId='usmf',CustomerAccount='US-002'", "delete")
    assert "EventId:8E7D2F9A-0000-0000-0000-000000000001#5637144577" in one.event_id
    with pytest.raises(EventError, match="no Keys"):
        parse(body({**envelope, "Keys": {}}), {"CustomersV3": customers()}, {})
    with pytest.raises(EventError, match="neither a RemoteExecutionContext"):
        parse(body({"EventId": "x"}), {"CustomersV3": customers()}, {})
