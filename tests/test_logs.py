"""What the logs say: reverted one-way fields, per-side counts by side name, keys as lists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog

from adapters.memory import MemorySide
from conftest import COMPANY_CUSTOMERS_MAP, write_config
from replicator.engine import Replicator
from replicator.logs import configure_logging, decode_keys

pytestmark = pytest.mark.anyio

TIMEOUT_S = 10.0
FNO, CRM = "CustomersV3", "accounts"

ONE_WAY = """
[value_maps.state]
"Idaho" = "ID"
"Washington" = "WA"

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [
  { fno = "Name", crm = "name" },
  { fno = "Latitude", crm = "address1_latitude", direction = "fno->crm" },
  { fno = "State", crm = "address1_stateorprovince", direction = "crm->fno", value_map = "state" },
]
"""


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """The structured log events of the test (structlog's capture)."""
    with structlog.testing.capture_logs() as captured:
        yield captured  # type: ignore[misc]  # MutableMapping events, read as dicts


@pytest.fixture
def reset_logging() -> Iterator[None]:
    """structlog as the tests keep it, after a test that configured it like the entry point."""
    yield
    structlog.reset_defaults()


async def idle(rep: Replicator) -> None:
    with anyio.fail_after(TIMEOUT_S):
        await rep.wait_idle()


def named(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == event]


# -- 19. a reverted one-way field is its own event -------------------------------------------


async def test_an_edit_of_a_one_way_field_on_the_other_side_is_logged_as_reverted(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """crm edits fno's Latitude: ``one_way_reverted`` (a warning) names the map, key, side,
    both field names, the refused value and the owner's; the owner's own edit logs none."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with Replicator(write_config(tmp_path, ONE_WAY), sides={"fno": fno, "crm": crm}) as rep:
        nid = fno.insert(FNO, {"CustomerAccount": "C1", "Name": "a", "Latitude": 47.6})
        await idle(rep)
        fno.update(FNO, nid, {"Latitude": 47.5})
        await idle(rep)
        assert named(logs, "one_way_reverted") == [], "the owner's edit is no revert"
        (crm_id,) = crm.rows(CRM)
        crm.update(CRM, crm_id, {"address1_latitude": 0.0, "name": "b"})
        await idle(rep)
        assert crm.rows(CRM)[crm_id]["address1_latitude"] == 47.5
    (reverted,) = named(logs, "one_way_reverted")
    change_id = reverted.pop("change_id")
    assert isinstance(change_id, int)
    assert reverted == {
        "event": "one_way_reverted",
        "log_level": "warning",
        "map": "customers",
        "key": '["C1"]',
        "side": "crm",
        "field": "address1_latitude",
        "refused": 0.0,
        "owner": "fno",
        "owner_field": "Latitude",
        "owner_value": 47.5,
    }


async def test_a_reverted_value_mapped_field_is_logged_in_each_sides_terms(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """fno edits crm's state to Washington: refused "Washington" (fno's terms), the owner's
    value "ID" (crm's terms)."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with Replicator(write_config(tmp_path, ONE_WAY), sides={"fno": fno, "crm": crm}) as rep:
        crm.insert(CRM, {"accountnumber": "K1", "name": "k", "address1_stateorprovince": "ID"})
        await idle(rep)
        (fno_id,) = fno.rows(FNO)
        fno.update(FNO, fno_id, {"State": "Washington"})
        await idle(rep)
        assert fno.rows(FNO)[fno_id]["State"] == "Idaho"
    (reverted,) = named(logs, "one_way_reverted")
    assert (reverted["side"], reverted["field"], reverted["refused"]) == (
        "fno",
        "State",
        "Washington",
    )
    assert (reverted["owner"], reverted["owner_field"], reverted["owner_value"]) == (
        "crm",
        "address1_stateorprovince",
        "ID",
    )


# -- 20. readable: counts by side name, keys as lists ----------------------------------------


async def test_the_initial_sync_event_names_the_side_of_each_count(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """``initial_sync_done`` gives rows, created and updated by side name, not as a pair."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    for account in ("C1", "C2", "C3"):
        fno.insert(FNO, {"dataAreaId": "usmf", "CustomerAccount": account, "Name": account})
    crm.insert(CRM, {"company": "usmf", "accountnumber": "K1", "name": "k"})
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}, live=False):
        pass
    (done,) = named(logs, "initial_sync_done")
    assert done["rows"] == {"fno": 3, "crm": 1}
    assert done["created"] == {"fno": 1, "crm": 3}
    assert done["updated"] == {"fno": 0, "crm": 0}


async def test_json_logs_give_a_records_key_as_a_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reset_logging: None
) -> None:
    """In the JSON logs ``key`` is a list (``["usmf", "C1"]``), not JSON text inside JSON."""
    configure_logging("json", "info")  # here: the test's stderr is not the fixtures'
    fno, crm = MemorySide("fno"), MemorySide("crm")
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        fno.insert(FNO, {"dataAreaId": "usmf", "CustomerAccount": "C1", "Name": "c"})
        await idle(rep)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    (applied,) = [e for e in lines if e.get("outcome") == "applied"]
    assert applied["key"] == ["usmf", "C1"] and applied["map"] == "customers"


def test_the_key_processor_decodes_only_encoded_keys() -> None:
    """Encoded keys (``key``, ``linked_to``) become lists; other values stay as they are."""
    event = {"event": "change", "key": '["usmf",10]', "linked_to": '["usmf","C2"]'}
    assert decode_keys(None, "info", event) == {
        "event": "change",
        "key": ["usmf", 10],
        "linked_to": ["usmf", "C2"],
    }
    for key in (None, "!0:12", "[not json"):
        assert decode_keys(None, "info", {"event": "e", "key": key}) == {"event": "e", "key": key}
