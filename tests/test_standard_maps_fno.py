"""The standard maps' F&O side: the F&O emulator defines every entity, field and enum they use.

Until the F&O adapter checks a side (``replicator validate`` against a reachable F&O), this
is that check, made against the emulator's registry directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from test_standard_maps import config_for

from emulators.fno import FnoEmulator
from emulators.fno.definitions import Edm
from emulators.fno.filter import compile_filter
from emulators.fno.standard_maps import standard_registry
from fno_client import inner_error, odata
from replicator.config import FieldMap, TableMap
from replicator.config.includes import standard_names

REGISTRY = standard_registry()


def problems_of(m: TableMap) -> list[str]:
    """What the emulator lacks for map ``m``'s F&O side, one line each."""
    entity = REGISTRY.entity(m.entities[0])
    if entity is None:
        return [f"map {m.name!r}: no entity {m.entities[0]!r}"]
    found = []
    if m.key_names(0) != entity.keys:
        found.append(f"map {m.name!r}: key {m.key_names(0)} is not the entity's {entity.keys}")
    for f in m.all_fields:
        field = entity.field(f.names[0])
        if field is None:
            found.append(f"map {m.name!r}: {entity.entity_set} has no field {f.names[0]!r}")
        elif f.value_map is not None and field.edm is Edm.ENUM:
            members = REGISTRY.enum_of(field).names()
            found += [
                f"map {m.name!r}: {f.names[0]}: {value!r} is no {field.enum} member"
                for value in f.value_map.forward
                if value not in members
            ]
    if m.filters[0] is not None:
        compile_filter(m.filters[0], entity, REGISTRY)  # raises for a bad name or enum
    return found


@pytest.mark.parametrize("name", [*standard_names()])
def test_the_fno_emulator_holds_what_each_standard_map_names(tmp_path: Path, name: str) -> None:
    """Entities, fields, keys, enum values and filters of each file's F&O side all exist."""
    config = config_for(tmp_path, name)
    assert [p for m in config.maps for p in problems_of(m)] == []


def test_the_check_finds_a_missing_field(tmp_path: Path) -> None:
    """The check above can fail: a field the entity lacks is named."""
    m = config_for(tmp_path, "currencies").maps[0]
    wrong = msgspec.structs.replace(m, fields=(FieldMap(("NoSuchField", "currencyname")),))
    assert problems_of(wrong) == ["map 'currencies': Currencies has no field 'NoSuchField'"]


@pytest.fixture
async def fno(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FnoEmulator]:
    # requests (under msal) lets REQUESTS_CA_BUNDLE override a session's verify=
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    async with FnoEmulator(tmp_path) as emulator:
        yield emulator


@pytest.mark.anyio
async def test_the_emulator_serves_the_map_entities_with_their_references(
    fno: FnoEmulator,
) -> None:
    """A sales order line is refused until its order exists; then both read back by key."""
    line = {
        "dataAreaId": "usmf",
        "InventoryLotId": "L-1",
        "SalesOrderNumber": "SO-1",
        "OrderedSalesQuantity": 3,
    }
    async with odata(fno) as client:
        orphan = await client.post("CDSSalesOrderLines", json=line)
        order = {"dataAreaId": "usmf", "SalesOrderNumber": "SO-1", "CurrencyCode": "USD"}
        made = await client.post("CDSSalesOrderHeaders", json=order)
        accepted = await client.post("CDSSalesOrderLines", json=line)
        read = await client.get("CDSSalesOrderLines(dataAreaId='usmf',InventoryLotId='L-1')")
    assert orphan.status_code == 400
    assert "'SO-1'" in inner_error(orphan)[1] and "Sales orders" in inner_error(orphan)[1]
    assert made.status_code == accepted.status_code == 201
    assert read.status_code == 200 and read.json()["OrderedSalesQuantity"] == 3
