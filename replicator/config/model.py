"""What a config is once read: the Structs the rest of the engine uses, and the keys and
ranges each table accepts (validation.py checks a file against them).

Internally the two sides are numbered 0 and 1 in file order; ``Config.sides[i].name``
is the user's name for side ``i``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import msgspec

from ..backoff import Backoff
from ..config_values import Range

Direction = Literal["both", "0->1", "1->0"]

_TOP_KEYS = {"include", "state", "sides", "value_maps", "maps", "engine", "http"}
_STATE_KEYS = {"path"}
ENGINE_RANGES = {
    "batch_size": Range(integer=True, least=1, most=10_000),
    "idle_actor_s": Range(least=0),  # ignored: accepted so that older configs still load
    "mailbox_size": Range(integer=True, least=1),
    "max_actors": Range(integer=True, least=1),
    "park_timeout_s": Range(above=0),
    "retry_first_s": Range(above=0),
    "retry_max_s": Range(above=0),  # and >= retry_first_s
}
_ENGINE_KEYS = set(ENGINE_RANGES)
_MAP_KEYS = {
    "name",
    "key",
    "fields",
    "create",
    "delete",
    "conflict",
    "initial_master",
    "prerequisites",
    "filter",
    "companies",
    "company",
    "sync_existing_companies",
    "park_timeout_s",
    "alerts",
}
_FIELD_KEYS = {"direction", "value_map", "default", "lookup", "enabled"}
_ALERT_KEYS = {"errors", "minutes", "action"}
ALERT_RANGES = {"errors": Range(integer=True, least=1), "minutes": Range(above=0)}
PARK_TIMEOUT_RANGE = Range(above=0)


class ValueMap(msgspec.Struct, frozen=True):
    """Translation of values: ``forward`` side 0 -> side 1, ``backward`` the reverse."""

    name: str
    forward: dict[Any, Any]
    backward: dict[Any, Any]
    strict: bool = False


class FieldMap(msgspec.Struct, frozen=True):
    """One field on each side; ``names[i]`` is the field on side ``i``."""

    names: tuple[str, str]
    direction: Direction = "both"
    value_map: ValueMap | None = None
    default: Any = None
    lookup: str | None = None
    enabled: bool = True
    """``enabled = false`` keeps the field map in the file but out of replication."""

    @property
    def id(self) -> str:
        """The field's id in shadows: its name on side 0."""
        return self.names[0]

    def flows(self, source: int) -> bool:
        """Whether a change on side ``source`` may flow to the other side."""
        return self.direction == "both" or self.direction == f"{source}->{1 - source}"


class Alert(msgspec.Struct, frozen=True):
    """``errors`` errors within ``minutes`` minutes trigger ``action``."""

    errors: int
    minutes: float
    action: Literal["pause", "log"] = "pause"


class TableMap(msgspec.Struct, frozen=True):
    """A table map: one entity on each side, its key, fields and rules."""

    name: str
    entities: tuple[str, str]
    key: tuple[FieldMap, ...]
    fields: tuple[FieldMap, ...]
    create: frozenset[int] = frozenset({0, 1})
    delete: frozenset[int] = frozenset({0, 1})
    conflict: int | Literal["newest"] = 0
    initial_master: int = 0
    prerequisites: tuple[str, ...] = ()
    filters: tuple[str | None, str | None] = (None, None)
    companies: tuple[str, ...] = ()
    company: FieldMap | None = None
    sync_existing_companies: bool = True
    park_timeout_s: float | None = None
    alerts: tuple[Alert, ...] = ()
    disabled: tuple[FieldMap, ...] = ()
    """Field maps written with ``enabled = false``: listed, validated, not replicated."""

    @property
    def all_fields(self) -> tuple[FieldMap, ...]:
        """Key fields first, then the other fields."""
        return self.key + self.fields

    def key_names(self, side: int) -> tuple[str, ...]:
        """The integration key's field names on ``side``."""
        return tuple(f.names[side] for f in self.key)


class SideConfig(msgspec.Struct, frozen=True):
    """A side: its name, adapter module and the adapter's own options."""

    name: str
    adapter: str
    options: dict[str, Any]


class EngineConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Tuning knobs of the engine; the defaults suit most deployments."""

    batch_size: int = 500
    mailbox_size: int = 64
    max_actors: int = 10_000
    park_timeout_s: float = 3600.0
    retry_first_s: float = 0.05
    """The first wait before a transient failure of a record is retried; it doubles."""
    retry_max_s: float = 30.0
    """The longest wait between two retries of a record (a Retry-After may ask for more)."""

    def backoff(self) -> Backoff:
        """How a record (or a map's catch-up) waits before trying again."""
        return Backoff(first_s=self.retry_first_s, most_s=self.retry_max_s)


class HttpConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The ``[http]`` table: the daemon's HTTP endpoint (none without ``listen``)."""

    listen: str | None = None
    """``host:port`` as written (``[::1]:8400`` for IPv6); port 0 picks a free port."""
    host: str = "127.0.0.1"
    port: int = 8400
    token_env: str | None = None
    """The environment variable holding the bearer token (never the token itself)."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    down_grace_s: float = 60.0
    """How long a side may be unreachable before ``/healthz`` answers 503."""
    file: str = "replicator.toml"
    """The config file's name, for messages."""


class Config(msgspec.Struct, frozen=True):
    """A whole, validated config."""

    path: Path
    state_path: Path
    sides: tuple[SideConfig, SideConfig]
    value_maps: dict[str, ValueMap]
    maps: tuple[TableMap, ...]
    engine: EngineConfig = EngineConfig()
    http: HttpConfig = HttpConfig()
    map_files: dict[str, str] = {}
    """Per map defined in an included file: that file (``standard:customers``, a path)."""
    included: tuple[str, ...] = ()
    """The included files, in the order they were read."""

    @property
    def base_dir(self) -> Path:
        """The folder relative paths are resolved against."""
        return self.path.parent

    def side_index(self, name: str) -> int:
        """The index of the side called ``name``."""
        return [s.name for s in self.sides].index(name)

    def prerequisite_graph(self) -> dict[str, set[str]]:
        """Per map, the maps it waits for: its prerequisites and its lookups' maps."""
        return {
            m.name: {
                d
                for d in (*m.prerequisites, *(f.lookup for f in m.all_fields))
                if d and d != m.name
            }
            for m in self.maps
        }

    def file_of(self, map_name: str) -> str:
        """The name of the file that defines the map ``map_name``, for messages."""
        return self.map_files.get(map_name, self.path.name)

    def map_named(self, name: str) -> TableMap:
        """The map called ``name``; ``KeyError`` if none."""
        for m in self.maps:
            if m.name == name:
                return m
        raise KeyError(name)


def unknown_keys(found: Iterable[str], allowed: set[str]) -> list[str]:
    """The keys of ``found`` that are not in ``allowed``, sorted."""
    return sorted(set(found) - allowed)
