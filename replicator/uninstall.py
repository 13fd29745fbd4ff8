"""``replicator uninstall``: remove what the replicator installed in the sides.

* ``--map NAME``: the change capture of that map's entities, on both sides;
* ``--unmapped``: the capture left on entities no map of the config uses (removed maps);
* neither: everything, on both sides (triggers and the ``_replicator_*`` tables).

What changed in a table while its capture was gone was never captured, so the state store
(if there is one) is told: each map that lost its capture is synced again at its next
start, against its shadows (``sync.UNCAPTURED``); after a full uninstall the sides'
cursors, which name entries of the dropped feeds, are forgotten too.

It refuses while a daemon runs on the config's state store. User tables and rows are
never touched. Exit codes: 0 done, 1 a side could not be reached, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .adapter import Side, Uninstallable, load_adapter
from .config import Config
from .errors import ConfigError
from .store import Store
from .sync import UNCAPTURED


def check_args(config: Config, args: argparse.Namespace) -> None:
    """``ConfigError`` (exit 2) for an unknown ``--map`` or ``--map`` with ``--unmapped``."""
    if args.map is not None and args.unmapped:
        raise ConfigError(["uninstall: give --map NAME or --unmapped, not both"])
    if args.map is not None and args.map not in {m.name for m in config.maps}:
        raise ConfigError([f"{config.path.name}: --map {args.map!r}: no map of that name"])


async def uninstall(config: Config, args: argparse.Namespace) -> int:
    """Uninstall from every side what ``args`` asks for (see the module docstring)."""
    for i, sc in enumerate(config.sides):
        side = load_adapter(sc.adapter, sc.name, sc.options, config.base_dir)
        await side.open()
        try:
            await uninstall_side(config, side, i, args)
        finally:
            await side.close()
    await forget_capture(config, args)
    if args.map is None and not args.unmapped:
        print(
            f"note: the state store {config.state_path} keeps its links and shadows: a later "
            "run syncs every map again against them (delete the store to start afresh)"
        )
    return 0


async def forget_capture(config: Config, args: argparse.Namespace) -> None:
    """Mark in the state store, if any, the maps whose capture was removed (see above)."""
    if not config.state_path.exists():
        return
    store = await Store.open(config.state_path)
    try:
        configured = [m.name for m in config.maps]
        if args.unmapped:
            names = [n for n in await store.map_states() if n not in configured]
        else:
            names = configured if args.map is None else [args.map]
        for name in names:
            await store.set_meta(f"fields:{name}", UNCAPTURED)
        if args.map is None and not args.unmapped:
            for side in range(len(config.sides)):
                await store.set_cursor(side, None)
    finally:
        await store.close()


async def uninstall_side(config: Config, side: Side, index: int, args: argparse.Namespace) -> None:
    """Uninstall from one side what ``args`` asks for, printing what was removed."""
    name = config.sides[index].name
    if not isinstance(side, Uninstallable):
        print(f"side {name!r}: its adapter installs nothing to remove", file=sys.stderr)
        return
    entities = await entities_to_uninstall(config, side, index, args)
    removed = [] if entities == [] else await side.uninstall(entities)
    for line in removed:
        print(f"side {name!r}: removed {line}")
    if not removed:
        print(f"side {name!r}: nothing to remove")


async def entities_to_uninstall(
    config: Config, side: Uninstallable, index: int, args: argparse.Namespace
) -> Sequence[str] | None:
    if args.map is not None:
        return [config.map_named(args.map).entities[index]]
    if args.unmapped:
        mapped = {m.entities[index].lower() for m in config.maps}
        return [e for e in await side.installed() if e.lower() not in mapped]
    return None
