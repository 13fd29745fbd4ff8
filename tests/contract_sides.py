"""The sides the adapter contract runs against, each with the application that edits it.

A harness holds a prepared side and plays the business application behind the replicator's
back: the memory reference, an SQLite file (a second connection), the Dataverse
emulator (its tables edited as "the user", not as the replicator's application user) and
the F&O emulator (its rows edited directly, each change announced as a journaled data event).
Each gives its own filter text for the filtered entity: the filter is in the side's syntax.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import pytest

from adapters.dataverse import create_side as create_dataverse_side
from adapters.fno import create_side as create_fno_side
from adapters.fno.events import Event
from adapters.fno.keys import key_values, native_id
from adapters.memory import MemorySide
from adapters.sqlite import create_side as create_sqlite_side
from emulators.dataverse import AlternateKey, Column, DataverseEmulator, Table
from emulators.dataverse.standard import SYSTEMUSER
from emulators.fno import Edm, EntityDef, FieldDef, FnoEmulator, Registry
from emulators.fno.store import key_of
from emulators.fno.values import default
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


def fno_definition(entity_set: str, public_name: str) -> EntityDef:
    """A data entity shaped like the SQLite tables: key ``code``, ``name`` at most 100
    characters (a longer one is refused by validateWrite), not company-specific."""
    return EntityDef(
        entity_set=entity_set,
        public_name=public_name,
        label=entity_set.title(),
        table=f"{public_name}Table",
        fields=(
            FieldDef(name="code", edm=Edm.STRING, label="Code", max_length=100, mandatory=True),
            FieldDef(name="name", edm=Edm.STRING, label="Name", max_length=100),
            FieldDef(name="kind", edm=Edm.STRING, label="Kind", max_length=10),
            FieldDef(name="qty", edm=Edm.INT, label="Quantity"),
        ),
        keys=("code",),
    )


class FnoHarness(Harness):
    """The F&O emulator in-process; the application edits its rows directly, and each of its
    changes is announced as a data event journaled in the side's inbox, as /hooks/<side>
    would (the side journals its own writes itself)."""

    specs = specs("kind eq 'a'")

    def __init__(self, emulator: FnoEmulator, tmp_path: Path) -> None:
        self.emulator = emulator
        options = {
            "url": emulator.url,
            "tenant_id": emulator.tenant_id,
            "client_id": emulator.client_id,
            "client_secret_env": FNO_SECRET_ENV,
            "authority": emulator.authority,
            "ca_file": str(emulator.ca_file),
            "hook_key_env": FNO_HOOK_ENV,
            "page_size": 2,  # a few rows already take several pages: paging is exercised
        }
        self.side = self.fno = create_fno_side("fno", options, tmp_path)
        self.events = 0

    def _definition(self, entity: str) -> EntityDef:
        found = self.emulator.registry.entity(entity)
        assert found is not None
        return found

    def _announce(self, entity: str, nid: str, op: Literal["upsert", "delete"]) -> None:
        self.events += 1
        self.fno.inbox._add([Event(entity, nid, op, f"app-{self.events}")])
        self.fno._arrived.set()

    def _row(self, entity: str, native_id: str) -> Any:
        key = key_values(self.fno.entities[entity].type, native_id)
        definition = self._definition(entity)
        return definition, self.emulator.store.get(definition, key_of(definition, key))

    def app_insert(self, entity: str, values: Values) -> str:
        definition = self._definition(entity)
        full = {f.name: default(f, self.emulator.registry) for f in definition.fields}
        row = self.emulator.store.insert(definition, {**full, **values})
        nid = native_id(self.fno.entities[entity].type, row.values)
        self._announce(entity, nid, "upsert")
        return nid

    def app_update(self, entity: str, native_id: str, values: Values) -> None:
        definition, row = self._row(entity, native_id)
        self.emulator.store.update(definition, row, dict(values))
        self._announce(entity, native_id, "upsert")

    def app_delete(self, entity: str, native_id: str) -> None:
        definition, row = self._row(entity, native_id)
        self.emulator.store.delete(definition, row)
        self._announce(entity, native_id, "delete")

    def refused(self, values: Values) -> Values:
        return {**values, "name": "x" * 101}


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
        tables = (fno_definition("items", "Item"), fno_definition("parts", "Part"))
        registry = Registry(tables)
        async with FnoEmulator(tmp_path, registry=registry, seed=False) as emulator:
            monkeypatch.setenv(FNO_SECRET_ENV, emulator.client_secret)
            monkeypatch.setenv(FNO_HOOK_ENV, "contract-hook-key")
            async with _opened(FnoHarness(emulator, tmp_path)) as opened:
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
