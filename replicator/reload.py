"""Live reload: a new config applied to a running engine, without a restart.

``Replicator.reload`` (and so ``SIGHUP`` to the daemon and the console's edits) takes a
new config and, once it is valid, swaps it in:

* it is validated first, exactly as ``replicator validate`` checks it, and the sides are
  checked for the fields it adds; on any problem nothing changes, the config in force
  keeps running, and the problem is logged and raised (``ConfigError``);
* what a running engine is built around is refused, naming what changed ("restart to
  change sides"): ``[sides]``, ``[state]``, ``[http]``, ``[engine]``, the set of maps, and
  a map's entities, key, filters, companies, prerequisites and lookup fields;
* everything else takes effect with the next change each map routes: field maps (on or
  off, direction, defaults), value maps, conflict policy, create and delete rules,
  alerts. An actor busy with a record when the config is swapped finishes the changes
  already in its mailbox with the map it started with;
* a map whose fields changed (as the shadows see them: ``sync.fields_fingerprint``) is
  re-synced, as a restart would: paused ("re-syncing"), synced again, resumed, in the
  background, prerequisites first. If that fails, its old fingerprint stays, so the next
  start (or reload) syncs it again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from .config import Config, TableMap, config_from_text, read_config_text
from .context import Context
from .errors import ConfigError, SchemaError
from .ordering import topological_order
from .schema import entity_spec, entity_specs
from .sync import fields_fingerprint
from .sync.map_sync import MapSync

RESYNC_REASON = "re-syncing: its fields changed in the config"


def read_new(source: str | Path, path: Path) -> Config:
    """The config ``source`` holds: the file at a ``Path``, or TOML text (``str``) read as
    if it were the file at ``path``. ``ConfigError`` with validate's lines if invalid."""
    if isinstance(source, Path):
        return config_from_text(read_config_text(source), source)
    return config_from_text(source, path)


def refused_changes(old: Config, new: Config) -> list[str]:
    """What ``new`` changes that only a restart can, one line each (empty: reloadable)."""
    name = new.path.name
    found = [
        f"{name}: [{table}] changed: restart to change {what}"
        for table, what, a, b in (
            ("sides", "sides", old.sides, new.sides),
            ("state", "the state store", old.state_path, new.state_path),
            ("http", "the HTTP endpoint", old.http, new.http),
            ("engine", "the engine's settings", old.engine, new.engine),
        )
        if a != b
    ]
    before, after = {m.name: m for m in old.maps}, {m.name: m for m in new.maps}
    added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
    if added or removed:
        which = ", ".join([*(f"{n!r} added" for n in added), *(f"{n!r} removed" for n in removed)])
        found.append(f"{name}: maps {which}: restart to add or remove maps")
    for map_name in sorted(set(before) & set(after)):
        for what in structure_changes(before[map_name], after[map_name]):
            found.append(f"{name}: map {map_name!r}: {what} changed: restart to change it")
    return found


def structure_changes(a: TableMap, b: TableMap) -> list[str]:
    """The parts of a map a running engine is built around that differ between a and b."""
    parts: dict[str, Callable[[TableMap], Any]] = {
        "entities": lambda m: m.entities,
        "key": lambda m: m.key,
        "filter": lambda m: m.filters,
        "companies": lambda m: (m.companies, m.company, m.sync_existing_companies),
        "prerequisites": lambda m: m.prerequisites,
        "lookup fields": lambda m: [f for f in m.all_fields if f.lookup is not None],
    }
    return [what for what, part in parts.items() if part(a) != part(b)]


def refit_maps(old: Config, new: Config) -> list[str]:
    """The maps whose fields changed as the shadows see them, prerequisites first."""
    before = {m.name: fields_fingerprint(m) for m in old.maps}
    changed = {m.name for m in new.maps if before.get(m.name) != fields_fingerprint(m)}
    return [n for n in topological_order(new.prerequisite_graph()) if n in changed]


async def check_sides(ctx: Context, new: Config, names: list[str]) -> None:
    """Check on each side that the fields of maps ``names`` exist, then have the sides
    capture them (``prepare``, as at start). ``ConfigError`` naming file, map and field if one is
    missing; a side that is down raises its ``TransientError`` (nothing changed)."""
    maps = [new.map_named(n) for n in names]
    problems = []
    for i, side in enumerate(ctx.sides):
        for m in maps:
            try:
                await side.check([entity_spec(m, i, new)])
            except SchemaError as exc:
                problems += [f"{new.path.name}: map {m.name!r}: {p}" for p in str(exc).splitlines()]
    if problems:
        raise ConfigError(problems)
    if maps:  # every map's, as at start (a side may take the list as all it captures)
        for i, side in enumerate(ctx.sides):
            await side.prepare(entity_specs(new, i))


async def resync(ctx: Context, names: list[str], hold: Callable[[], Awaitable[None]]) -> None:
    """Re-sync maps ``names`` whose fields changed (``hold`` has the router re-read the
    paused maps), each paused meanwhile and resumed as it was; a failure is logged."""
    for name in names:
        states = await ctx.store.map_states()
        _, paused, reason = states.get(name, (None, False, None))
        await ctx.store.set_paused(name, True, RESYNC_REASON)
        await hold()
        try:
            report = await MapSync(ctx, ctx.map(name), None).run()
            await ctx.store.set_meta(f"fields:{name}", fields_fingerprint(ctx.map(name)))
            ctx.log.warning(
                "map_resynced",
                map=name,
                reason="fields changed",
                created=report.created,
                linked=report.linked,
                errors=report.errors,
            )
        except Exception as exc:  # the next start syncs it again: its fingerprint is old
            ctx.log.error("map_resync_failed", map=name, reason=str(exc), retry="next start")
        finally:
            with anyio.CancelScope(shield=True):  # never leave it paused for re-syncing
                await ctx.store.set_paused(name, paused, reason)
            await hold()
