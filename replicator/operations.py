"""What an operator can ask of a replicator, running or not: one code path for the CLI,
the HTTP API and the console.

``Operations(config)`` works on the state store directly: it is what ``replicator status``
and ``errors`` use with no daemon, or a daemon without ``[http]``, where the daemon notices
the store's ``control`` mark within half a second. ``Operations(config, replicator=rep)``
is the same inside a running engine (the daemon's API, ``Replicator.asgi_app()``): its
changes also reach the engine at once. The CLI reaches a daemon whose ``[http]`` answers
through ``http.client.RemoteOperations``, which asks the daemon's own ``Operations``.

Every method reads and writes through a connection of its own to the state store, never
the engine's, and holds nothing of the engine's across an await: a slow client cannot
slow replication.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import msgspec

from .adapter import Change, HookReceiver
from .config import Config, FieldMap, TableMap
from .edits import Edit, check_fresh, preview, save
from .errors import ConfigError, ReplicatorError
from .mapping import decode_key
from .model import ErrorEntry
from .observe import ChangeEvent, ChangeListener
from .ownership import holder
from .status import map_status, outages
from .store import Store

if TYPE_CHECKING:
    from .engine import Replicator

PAUSED_BY_OPERATOR = "paused by the operator"
ENDPOINT_META = "http_url"
"""The state store's meta key a daemon keeps ``<pid> <url>`` of its endpoint in."""
ARROWS = {"both": "=", "0->1": ">", "1->0": "<"}
"""Dual-write's notation of a field map's direction: ``=`` both ways, ``>`` side 0 to 1."""


class Operator(Protocol):
    """What ``Operations`` and ``RemoteOperations`` both answer (the CLI takes either)."""

    @property
    def config(self) -> Config: ...

    async def status(self) -> dict[str, Any]: ...
    async def errors(
        self, *, map: str | None = None, side: str | None = None, reason: str | None = None
    ) -> list[dict[str, Any]]: ...
    async def retry(self, ids: Sequence[int] | None) -> int: ...
    async def discard(self, ids: Sequence[int]) -> int: ...
    async def pause(self, map_name: str) -> None: ...
    async def resume(self, map_name: str) -> None: ...
    async def reconcile(self, maps: Sequence[str] | None = None) -> list[dict[str, Any]]: ...


class Operations:
    """What an operator can ask of a replicator, running or not: one code path for CLI,
    API, console. Use as ``async with Operations(config) as ops:`` (or ``aclose()``)."""

    def __init__(self, config: Config, *, replicator: Replicator | None = None) -> None:
        self._config = config
        self.replicator = replicator
        self.reloader: Callable[[str], Awaitable[list[str] | None]] | None = (
            None if replicator is None else replicator.reload
        )
        """Applies a new config text to the running engine (the engine's ``reload``); it
        may answer the maps it re-syncs."""
        self._store: Store | None = None
        self._opening = anyio.Lock()

    @property
    def config(self) -> Config:
        """The config in force: the running engine's (a reload changes it), else the one
        given."""
        return self._config if self.replicator is None else self.replicator.config

    async def __aenter__(self) -> Operations:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the state store connection, if one was opened."""
        store, self._store = self._store, None
        if store is not None:
            with anyio.CancelScope(shield=True):
                await store.close()

    async def _db(self, *, create: bool = False) -> Store:
        """The state store, opened on first use (``create``: even if it is not there yet)."""
        async with self._opening:
            if self._store is None:
                path = self.config.state_path
                if not create and not path.exists():
                    raise ReplicatorError(f"no state store at {path}: run or sync first")
                self._store = await Store.open(path)
            return self._store

    # -- reading -------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        """Per map its state, links, backlog, parked, errors and lag; the daemon and its
        owner; the sides unreachable now (the shape of ``replicator status --json``)."""
        store = await self._db()
        owner = holder(self.config.state_path)
        running = owner is not None and owner.live
        maps = await map_status(self.config, store, running)
        now = time.time()
        down = await self.outages() if running else {}
        return {
            "daemon": "running" if running else "stopped",
            "owner": None if owner is None else msgspec.to_builtins(owner),
            "maps": [{**m, "synced_at": iso_time(m["synced_at"])} for m in maps],
            "outages": {
                name: {"since": iso_time(since), "seconds": round(now - since, 1)}
                for name, since in down.items()
            },
        }

    async def outages(self) -> dict[str, float]:
        """Sides unreachable now, with when it started (epoch seconds)."""
        rep = self.replicator
        if rep is None:  # what the daemon last recorded
            return await outages(await self._db())
        if not hasattr(rep, "ctx"):  # starting: no side tried yet
            return {}
        return {rep.ctx.side_names[i]: since for i, since in rep.ctx.outages().items()}

    def hook_receiver(self, side: str) -> HookReceiver | None:
        """The running side called ``side`` if it takes webhooks, else None."""
        rep = self.replicator
        if rep is None or not hasattr(rep, "ctx") or side not in rep.ctx.side_names:
            return None
        found = rep.ctx.sides[rep.ctx.side_names.index(side)]
        return found if isinstance(found, HookReceiver) else None

    def recent_changes(self, limit: int, map: str | None = None) -> list[ChangeEvent]:
        """The running engine's last change events, newest first (none without one)."""
        if self.replicator is None:
            return []
        return self.replicator.activity.recent(limit, map=map)

    def watch_changes(self, listener: ChangeListener) -> Callable[[], None]:
        """Call ``listener`` (at once, never blocking) with each change event of the
        running engine from now on; returns the function that stops it."""
        if self.replicator is None:
            return lambda: None
        return self.replicator.observers.subscribe(listener)

    async def maps(self) -> list[dict[str, Any]]:
        """Each map as configured: entities, key, field maps in Dual-write's notation
        (``=``, ``>``, ``<``), value maps, rules, prerequisites and companies."""
        return [describe_map(self.config, m) for m in self.config.maps]

    async def errors(
        self, *, map: str | None = None, side: str | None = None, reason: str | None = None
    ) -> list[dict[str, Any]]:
        """The error queue, oldest first (the shape of ``errors --json``); only the entries
        of ``map``, of ``side``, whose reason contains ``reason`` (any case), if given."""
        sides = [s.name for s in self.config.sides]
        entries = await (await self._db()).errors()
        words = None if reason is None else reason.casefold()
        return [
            error_json(e, sides)
            for e in entries
            if (map is None or e.map == map)
            and (side is None or sides[e.side] == side)
            and (words is None or words in e.reason.casefold())
        ]

    # -- acting --------------------------------------------------------------------------

    async def retry(self, ids: Sequence[int] | None) -> int:
        """Queue each entry's record (``None``: every entry) for a fresh attempt with its
        *current* state; the count queued (entries of maps no longer configured are not)."""
        if ids is not None and not ids:
            return 0
        store = await self._db()
        entries = await store.errors(() if ids is None else ids)
        names = {m.name for m in self.config.maps}
        queued = [e for e in entries if e.map in names]
        for e in queued:
            entity = self.config.map_named(e.map).entities[e.side]
            await store.add_journal(e.side, e.map, Change(entity, e.native_id, "upsert"))
        await store.poke()
        await self._tell_engine()
        return len(queued)

    async def discard(self, ids: Sequence[int]) -> int:
        """Drop entries from the error queue; the count dropped."""
        if not ids:
            return 0
        return await (await self._db()).discard_errors(ids)

    async def pause(self, map_name: str) -> None:
        """Pause a map: its changes are captured and wait; ``resume`` catches up in order."""
        await self._set_paused(map_name, True)

    async def resume(self, map_name: str) -> None:
        """Resume a paused map; what it captured meanwhile is applied in order."""
        await self._set_paused(map_name, False)

    async def _set_paused(self, map_name: str, paused: bool) -> None:
        if map_name not in {m.name for m in self.config.maps}:
            raise ConfigError([f"{self.config.path.name}: no map named {map_name!r}"])
        store = await self._db(create=True)
        await store.set_paused(map_name, paused, PAUSED_BY_OPERATOR if paused else None)
        await self._tell_engine()

    async def reconcile(self, maps: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """A reconciliation pass per map (default: all) over both sides (reconcile.py), by
        the running engine, else by one started here for it (as ``replicator sync`` does)
        that applies what the passes replayed, then stops; what each pass did."""
        known = {m.name for m in self.config.maps}
        for name in maps or ():
            if name not in known:
                raise ConfigError([f"{self.config.path.name}: no map named {name!r}"])
        if self.replicator is not None:
            reports = await self.replicator.reconcile(maps)
        else:
            from .engine import Replicator  # the engine imports this module

            async with Replicator(self.config, reconcile=False) as rep:
                reports = await rep.reconcile(maps)
                await rep.wait_idle()
        return [msgspec.to_builtins(r) for r in reports]

    async def _tell_engine(self) -> None:
        """Have a running engine in this process re-read the store now, not at its next
        look (its ``control`` poll would find the change too)."""
        if self.replicator is not None:
            await self.replicator.refresh()

    async def advertise(self, url: str) -> None:
        """Note in the store that this process serves the endpoint at ``url``, for the CLI
        (``http.client``): it is used while this process owns the store."""
        store = await self._db(create=True)
        await store.set_meta(ENDPOINT_META, f"{os.getpid()} {url}")

    async def apply_config(self, text: str) -> list[str]:
        """Apply a new config (its TOML text) to the running engine, through ``reloader``;
        the maps it re-syncs because their fields changed."""
        if self.reloader is None:
            raise ReplicatorError(
                f"{self.config.path.name}: this replicator cannot apply a config while it "
                "runs: save the file and restart it"
            )
        return list(await self.reloader(text) or [])

    # -- editing a map -------------------------------------------------------------------

    async def preview_edits(self, edits: Sequence[Edit]) -> dict[str, Any]:
        """The config file with ``edits`` applied: ``{"diff", "errors", "text"}``, the
        errors exactly validate's lines (empty: it may be saved). Nothing is written."""
        shown = preview(self.config.path, edits)
        return {"diff": shown.diff, "errors": shown.errors, "text": shown.text}

    async def edit(self, edits: Sequence[Edit]) -> dict[str, Any]:
        """Preview ``edits``; if valid, apply them to the running engine and save the file
        (an engine that refuses them leaves the file as it was). The preview's keys, plus
        ``saved``, ``applied`` and ``resync`` (the maps re-synced because their fields
        changed). Without a running engine the file is saved for the next start.
        ``StaleEdit`` if the file changed meanwhile; ``ConfigError`` if the engine refuses."""
        path = self.config.path
        shown = preview(path, edits)
        answer = {"diff": shown.diff, "errors": shown.errors, "text": shown.text}
        if shown.errors:
            return {**answer, "saved": False, "applied": False, "resync": []}
        check_fresh(path, shown)
        resync = None if self.reloader is None else await self.apply_config(shown.text)
        save(path, shown)
        return {**answer, "saved": True, "applied": resync is not None, "resync": resync or []}


def error_json(e: ErrorEntry, sides: list[str]) -> dict[str, Any]:
    """An error-queue entry for ``errors --json``: its key a list, its times ISO 8601."""
    return {
        "id": e.id,
        "map": e.map,
        "side": sides[e.side],
        "native_id": e.native_id,
        "key": decode_key(e.key),
        "kind": e.kind,
        "reason": e.reason,
        "attempts": e.attempts,
        "first_seen": iso_time(e.first_seen),
        "last_seen": iso_time(e.last_seen),
        "change": msgspec.to_builtins(e.change),
    }


def iso_time(epoch: float | None) -> str | None:
    """An epoch time for ``--json``: ISO 8601 in UTC, ``2026-12-01T22:14:05+00:00``."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def describe_map(config: Config, m: TableMap) -> dict[str, Any]:
    """A map for people and the console: side names instead of side numbers."""
    sides = [s.name for s in config.sides]
    return {
        "name": m.name,
        "entities": dict(zip(sides, m.entities, strict=True)),
        "key": [describe_field(f, sides) for f in m.key],
        "fields": [describe_field(f, sides) for f in (*m.fields, *m.disabled)],
        "create": [sides[i] for i in sorted(m.create)],
        "delete": [sides[i] for i in sorted(m.delete)],
        "conflict": m.conflict if m.conflict == "newest" else sides[m.conflict],
        "initial_master": sides[m.initial_master],
        "prerequisites": list(m.prerequisites),
        "filters": {sides[i]: f for i, f in enumerate(m.filters) if f is not None},
        "companies": list(m.companies),
    }


def direction_name(f: FieldMap, sides: list[str]) -> str:
    """``both``, or ``fno->crm`` in the sides' own names."""
    if f.direction == "both":
        return "both"
    source = int(f.direction[0])
    return f"{sides[source]}->{sides[1 - source]}"


def describe_field(f: FieldMap, sides: list[str]) -> dict[str, Any]:
    """A field map: both names, its arrow (``=``, ``>``, ``<``) and what it translates."""
    vm = f.value_map
    return {
        "names": dict(zip(sides, f.names, strict=True)),
        "direction": direction_name(f, sides),
        "arrow": ARROWS[f.direction],
        "value_map": None if vm is None else {"name": vm.name, "pairs": vm.forward},
        "default": f.default,
        "lookup": f.lookup,
        "enabled": f.enabled,
    }
