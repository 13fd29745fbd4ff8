"""The sides the adapter contract runs against, each with the application that edits it.

A harness holds a prepared side and plays the business application behind the replicator's
back: the memory reference, an SQLite file (a second connection), the Dataverse
emulator (its tables edited as "the user", not as the replicator's application user) and
the F&O side against an OData fake whose every change is announced as a data event.
Each gives its own filter text for the filtered entity: the filter is in the side's syntax.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import pytest
from fno_fake import FakeEntity, FakeFno

from adapters.dataverse import create_side as create_dataverse_side
from adapters.fno import FnoSide
from adapters.fno.events import Event
from adapters.fno.keys import key_values, native_id
from adapters.fno.options import load_options as load_fno_options
from adapters.memory import MemorySide
from adapters.sqlite import create_side as create_sqlite_side
from emulators.dataverse import AlternateKey, Column, DataverseEmulator, Table
from emulators.dataverse.standard import SYSTEMUSER
from replicator.adapter import EntitySpec, Side, Values

FIELDS = ("name", "kind", "qty")
SIDES = ["memory", "sqlite", "dataverse", "fno"]
TABLE = "(id INTEGER PRIMARY KEY, code TEXT, name TEXT, kind TEXT, qty INTEGER CHECK (qty >= 0))"
SECRET_ENV = "CONTRACT_DATAVERSE_SECRET"
FNO_SECRET_ENV = "CONTRACT_FNO_SECRET"
FNO_HOOK_ENV = "CONTRACT_FNO_HOOK_KEY"


def specs(kind_is_a: str) -> list[EntitySpec]:
    """The suite's two entities: ``items``, and ``parts`` filtered to kind 'a'."""
    return [
        EntitySpec("items", FIELDS, ("code",)),
        EntitySpec("parts", FIELDS, ("code",), filter=kind_is_a),
    ]


class Harness:
    """A side under test, and the application that edits it behind the replicator's back."""

    side: Side
    specs = specs("kind = 'a'")

    def app_insert(self, entity: str, values: Values) -> str:
        raise NotImplementedError

    def app_update(self, entity: str, native_id: str, values: Values) -> None:
        raise NotImplementedError

    def app_delete(self, entity: str, native_id: str) -> None:
        raise NotImplementedError

    def refused(self, values: Values) -> Values:
        """Values that this side will refuse permanently when written next."""
        raise NotImplementedError


class MemoryHarness(Harness):
    def __init__(self) -> None:
        self.memory = MemorySide("mem", tables=["items", "parts"])
        self.side = self.memory

    def app_insert(self, entity: str, values: Values) -> str:
        return self.memory.insert(entity, values)

    def app_update(self, entity: str, native_id: str, values: Values) -> None:
        self.memory.update(entity, native_id, values)

    def app_delete(self, entity: str, native_id: str) -> None:
        self.memory.delete(entity, native_id)

    def refused(self, values: Values) -> Values:
        self.memory.fail_writes(1, "permanent")
        return values


class SQLiteHarness(Harness):
    def __init__(self, tmp_path: Path) -> None:
        path = tmp_path / "side.db"
        self.app = sqlite3.connect(path, isolation_level=None)
        for table in ("items", "parts"):
            self.app.execute(f"CREATE TABLE {table} {TABLE}")
        self.side = create_sqlite_side("lite", {"path": "side.db", "poll_interval_ms": 5}, tmp_path)

    def app_insert(self, entity: str, values: Values) -> str:
        names = ", ".join(values)
        marks = ", ".join("?" * len(values))
        sql = f"INSERT INTO {entity} ({names}) VALUES ({marks})"
        return str(self.app.execute(sql, list(values.values())).lastrowid)

    def app_update(self, entity: str, native_id: str, values: Values) -> None:
        sets = ", ".join(f"{name} = ?" for name in values)
        self.app.execute(f"UPDATE {entity} SET {sets} WHERE id = ?", [*values.values(), native_id])

    def app_delete(self, entity: str, native_id: str) -> None:
        self.app.execute(f"DELETE FROM {entity} WHERE id = ?", [native_id])

    def refused(self, values: Values) -> Values:
        return {**values, "qty": -1}


def dataverse_table(logical_name: str, entity_set: str) -> Table:
    """A custom table shaped like the SQLite ones: a ``code`` alternate key, a non-negative
    whole number ``qty`` (so a negative one is refused, as the SQLite CHECK refuses it)."""
    return Table(
        logical_name=logical_name,
        entity_set=entity_set,
        primary_id=f"{logical_name}id",
        primary_name="name",
        columns=(
            Column(logical_name="code", type="String", max_length=100),
            Column(logical_name="name", type="String", max_length=100),
            Column(logical_name="kind", type="String", max_length=10),
            Column(logical_name="qty", type="Integer", min_value=0),
        ),
        keys=(AlternateKey(logical_name=f"{logical_name}_code", columns=("code",)),),
    )


DATAVERSE_TABLES = (dataverse_table("item", "items"), dataverse_table("part", "parts"), SYSTEMUSER)


class DataverseHarness(Harness):
    """The emulator in-process; the application is a user of the environment editing rows."""

    specs = specs("kind eq 'a'")

    def __init__(self, emulator: DataverseEmulator, tmp_path: Path) -> None:
        self.emulator = emulator
        options = {
            "url": emulator.url,
            "tenant_id": emulator.tenant_id,
            "client_id": emulator.client_id,
            "client_secret_env": SECRET_ENV,
            "authority": emulator.authority,
            "ca_file": str(emulator.ca_file),
            "poll_interval_ms": 200,
            "max_poll_interval_ms": 1000,
            "page_size": 2,  # a few rows already take several pages: paging is exercised
        }
        self.side = create_dataverse_side("crm", options, tmp_path)

    def _id(self, entity: str) -> str:
        return self.emulator.db.store(entity).info.primary_id

    def app_insert(self, entity: str, values: Values) -> str:
        user = self.emulator.user_systemuser_id
        return str(self.emulator.db.create(entity, values, user=user)[self._id(entity)])

    def app_update(self, entity: str, native_id: str, values: Values) -> None:
        self.emulator.db.update(entity, native_id, values, user=self.emulator.user_systemuser_id)

    def app_delete(self, entity: str, native_id: str) -> None:
        self.emulator.db.delete(entity, native_id)

    def refused(self, values: Values) -> Values:
        return {**values, "qty": -1}


def fno_entity(entity_set: str, type_name: str) -> FakeEntity:
    """A data entity shaped like the SQLite tables, keyed by ``code`` (not company-specific)."""
    fields = {"code": "Edm.String", "name": "Edm.String", "kind": "Edm.String", "qty": "Edm.Int32"}
    return FakeEntity(entity_set=entity_set, type_name=type_name, key=("code",), fields=fields)


class FnoHarness(Harness):
    """The F&O side against the in-memory OData fake (tests/fno_fake.py) until the F&O
    emulator runs here. Every change of a row, the application's or the replicator's, is
    announced as a data event journaled in the side's inbox, as ``/hooks/<side>`` would."""

    specs = specs("kind eq 'a'")

    def __init__(self, tmp_path: Path) -> None:
        self.fake = FakeFno([fno_entity("items", "Item"), fno_entity("parts", "Part")])
        self.fake.refuse["-1"] = "The quantity must not be negative."
        options = {
            "url": "https://fno.example",
            "tenant_id": "contoso.onmicrosoft.com",
            "client_id": "11111111-2222-3333-4444-555555555555",
            "client_secret_env": FNO_SECRET_ENV,
            "hook_key_env": FNO_HOOK_ENV,
            "poll_interval_ms": 20,
            "page_size": 2,  # a few rows already take several pages: paging is exercised
        }
        self.fno = FnoSide(
            "fno", load_fno_options(options, tmp_path), tmp_path, transport=self.fake.transport()
        )
        self.side = self.fno
        self.events = 0
        self.fake.on_change = self._announce

    def _announce(self, entity: str, row: dict[str, object], op: str) -> None:
        self.events += 1
        nid = native_id(self.fno.entities[entity].type, row)
        kind: Literal["upsert", "delete"] = "delete" if op == "delete" else "upsert"
        self.fno.inbox._add([Event(entity, nid, kind, f"event-{self.events}")])
        self.fno._arrived.set()

    def app_insert(self, entity: str, values: Values) -> str:
        return native_id(self.fno.entities[entity].type, self.fake.put(entity, dict(values)))

    def app_update(self, entity: str, native_id: str, values: Values) -> None:
        key = key_values(self.fno.entities[entity].type, native_id)
        self.fake.put(entity, {**key, **values})

    def app_delete(self, entity: str, native_id: str) -> None:
        self.fake.drop(entity, key_values(self.fno.entities[entity].type, native_id))

    def refused(self, values: Values) -> Values:
        return {**values, "qty": -1}


@asynccontextmanager
async def harness(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    """The prepared side ``kind`` (one of ``SIDES``), closed afterwards."""
    if kind == "dataverse":
        async with DataverseEmulator(tmp_path, tables=DATAVERSE_TABLES) as emulator:
            monkeypatch.setenv(SECRET_ENV, emulator.client_secret)
            async with _opened(DataverseHarness(emulator, tmp_path)) as opened:
                yield opened
        return
    if kind == "fno":
        monkeypatch.setenv(FNO_SECRET_ENV, "contract-secret")
        monkeypatch.setenv(FNO_HOOK_ENV, "contract-hook-key")
        async with _opened(FnoHarness(tmp_path)) as opened:
            yield opened
        return
    if kind == "sqlite":
        sqlite = SQLiteHarness(tmp_path)
        async with _opened(sqlite) as opened:
            yield opened
        sqlite.app.close()
        return
    async with _opened(MemoryHarness()) as opened:
        yield opened


@asynccontextmanager
async def _opened(h: Harness) -> AsyncIterator[Harness]:
    await h.side.open()
    try:
        await h.side.prepare(h.specs)
        yield h
    finally:
        await h.side.close()
