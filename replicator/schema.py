"""What each side must provide for the config's maps, and the check that it does.

An ``EntitySpec`` (adapter.py) names, for one map and side, the entity, the fields the
map reads and writes, the integration key, the filter and the lookups. The engine asks
each side to ``check`` and then ``prepare`` them at start, ``replicator validate`` and
``replicator check`` ask the same, and a live reload (reload.py) asks for the maps a new
config changes.
"""

from __future__ import annotations

from .adapter import EntitySpec, Side
from .config import Config, TableMap
from .errors import SchemaError


def entity_spec(m: TableMap, side: int, config: Config | None = None) -> EntitySpec:
    """What side ``side`` must provide for map ``m`` (its lookups need the ``config``)."""
    fields = tuple(f.names[side] for f in m.all_fields)
    maps = {} if config is None else {r.name: r for r in config.maps}
    lookups = tuple(
        (f.names[side], maps[f.lookup].entities[side])
        for f in m.all_fields
        if f.lookup is not None and f.lookup in maps
    )
    return EntitySpec(m.entities[side], fields, m.key_names(side), m.filters[side], lookups)


def entity_specs(config: Config, side: int) -> list[EntitySpec]:
    """What side ``side`` must provide for the config's maps."""
    return [entity_spec(m, side, config) for m in config.maps]


async def check_schema(config: Config, side: Side, index: int) -> list[str]:
    """Each map's missing entity, field or bad filter on one side, naming file and map."""
    problems = []
    for m in config.maps:
        try:
            await side.check([entity_spec(m, index, config)])
        except SchemaError as exc:  # a side may name several problems, one a line
            problems += [
                f"{config.file_of(m.name)}: map {m.name!r}: {p}" for p in str(exc).splitlines()
            ]
    return problems
