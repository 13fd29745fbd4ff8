"""``replicator uninstall``: remove what the replicator installed in the sides.

* ``--map NAME``: the change capture of that map's entities, on both sides;
* ``--unmapped``: the capture left on entities no map of the config uses (removed maps);
* neither: everything, on both sides (triggers and the ``_replicator_*`` tables). The state
  store is left alone: delete it too before using the replicator on those sides again.

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
    if args.map is None and not args.unmapped:
        print(
            f"note: the state store {config.state_path} still holds these sides' links and "
            "cursors: delete it before running the replicator on them again"
        )
    return 0


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
