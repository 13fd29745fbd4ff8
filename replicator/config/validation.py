"""Checks a decoded config as a whole and builds the normalised ``Config``.

Each problem becomes one line ``<file>: <where>: <what>``, where ``<where>`` names the
table (``[sides.fno]``) or the map and the field (``map 'customers', fields[3] (A <-> b)``);
all lines are raised together in one ``ConfigError`` so a user fixes everything in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from ..adapter import option_problems
from ..config_values import Range, storable_problem, toml
from ..errors import ConfigError
from ..messages import either, unknown_key_message
from ..ordering import find_cycle
from . import model as c
from .http_settings import read_http
from .includes import expand
from .map_validation import MapReader

# Words that mean something in a map or a field map, so they cannot also name a side.
_RESERVED_SIDE_NAMES = c._MAP_KEYS | c._FIELD_KEYS | {"both", "newest"}


class ConfigReader:
    """Reads one decoded config; ``read()`` returns it or raises every problem found."""

    def __init__(self, raw: dict[str, Any], path: Path) -> None:
        self.raw = raw
        self.path = path
        self.problems: list[str] = []
        self.side_names: list[str] = []
        self.value_maps: dict[str, c.ValueMap] = {}
        self.map_names: list[Any] = []  # as written, so a lookup may name a map that failed
        # (map, map it needs) -> where the need is written, for prerequisite cycles
        self.needs: dict[tuple[str, str], str] = {}
        self.expanded = expand(raw, path)
        self.problems += self.expanded.problems
        self.file = path.name
        """The file being read: the config, or while a map is read, the file defining it."""
        self.map_files = {
            m["name"]: label
            for m, (label, _) in zip(self.expanded.maps, self.expanded.map_files, strict=True)
            if isinstance(m, dict) and isinstance(m.get("name"), str) and label != path.name
        }

    def problem(self, where: str, what: str) -> None:
        """Record one problem found at ``where`` (in the file being read)."""
        self.problems.append(f"{self.file}: {where}: {what}" if where else f"{self.file}: {what}")

    @contextmanager
    def reading(self, file: str) -> Iterator[None]:
        """Name ``file`` in the problems found meanwhile."""
        before, self.file = self.file, file
        try:
            yield
        finally:
            self.file = before

    def file_of(self, map_name: str) -> str:
        return self.map_files.get(map_name, self.path.name)

    def unknown(self, found: Iterable[str], allowed: set[str], where: str) -> None:
        """Report each key of ``found`` that is not ``allowed``."""
        for k in c.unknown_keys(found, allowed):
            self.problem(where, unknown_key_message(k, allowed))

    def read(self) -> c.Config:
        """Validate everything, then build the Config or raise ConfigError."""
        self.unknown(self.raw, c._TOP_KEYS, "")
        state_path = self.read_state()
        sides = self.read_sides()
        self.check_state_apart(state_path, sides or ())
        self.value_maps = self.read_value_maps()
        engine = self.read_engine()
        maps = self.read_maps()
        http = read_http(self.table("[http]", self.raw.get("http", {})), self.path, self.problem)
        if self.problems or sides is None:
            raise ConfigError(self.problems)
        return c.Config(
            self.path,
            state_path,
            sides,
            self.value_maps,
            maps,
            engine,
            http,
            map_files={m.name: self.map_files[m.name] for m in maps if m.name in self.map_files},
            included=tuple(self.expanded.included),
        )

    def read_state(self) -> Path:
        state = self.table("[state]", self.raw.get("state", {}))
        self.unknown(state, c._STATE_KEYS, "[state]")
        raw_path = state.get("path", "state.db")
        if not isinstance(raw_path, str) or not raw_path:
            self.problem("[state]", "path must be a non-empty string")
            raw_path = "state.db"
        return (self.path.parent / raw_path).resolve()

    def check_state_apart(self, state_path: Path, sides: Iterable[c.SideConfig]) -> None:
        """The state store and each side need files of their own (side options ``path``)."""
        files = [(s.name, self.path.parent / s.options["path"]) for s in sides if _has_path(s)]
        for name, path in files:
            if same_file(state_path, path):
                self.problem(
                    "[state]",
                    f"path and [sides.{name}] path both name {state_path}: the state "
                    'store needs a file of its own (e.g. path = "state.db")',
                )
        if len(files) == 2 and same_file(files[0][1], files[1][1]):
            (a, path), (b, _) = files
            self.problem(
                f"[sides.{b}]",
                f"path names {path.resolve()}, the database of [sides.{a}] too: each side "
                "needs a database of its own",
            )

    def read_engine(self) -> c.EngineConfig:
        engine = self.table("[engine]", self.raw.get("engine", {}))
        self.unknown(engine, c._ENGINE_KEYS, "[engine]")
        knobs = self.numbers("[engine]", engine, c.ENGINE_RANGES)
        knobs.pop("idle_actor_s", None)  # an actor ends once idle: the knob did nothing
        built = msgspec.convert(knobs, c.EngineConfig)
        if built.retry_max_s < built.retry_first_s:
            first, most = (
                toml(knobs.get(k, getattr(built, k))) + ("" if k in knobs else ", the default")
                for k in ("retry_first_s", "retry_max_s")
            )
            self.problem("[engine]", f"retry_max_s ({most}) must be >= retry_first_s ({first})")
        return built

    def numbers(
        self, where: str, table: dict[str, Any], ranges: dict[str, Range]
    ) -> dict[str, Any]:
        """The values of ``table`` that ``ranges`` knows and accepts; the others reported."""
        good = {}
        for name, value in table.items():
            if name not in ranges:
                continue
            if (wrong := ranges[name].problem(value)) is not None:
                self.problem(where, f"{name} {wrong}")
            else:
                good[name] = value
        return good

    def read_sides(self) -> tuple[c.SideConfig, c.SideConfig] | None:
        sides = self.table("[sides]", self.raw.get("sides", {}))
        self.side_names = list(sides)
        if len(sides) != 2:
            found = f"found {len(sides)}: {either(sides)}" if sides else "found none"
            self.problem("[sides]", f"exactly two sides are needed ([sides.<name>]), {found}")
        built = [self.read_side(name, options) for name, options in sides.items()]
        return (built[0], built[1]) if len(built) == 2 else None

    def read_side(self, name: str, raw: Any) -> c.SideConfig:
        where = f"[sides.{name}]"
        if name in _RESERVED_SIDE_NAMES or "->" in name:
            self.problem(where, f"{name!r} cannot name a side: the config uses it as a keyword")
        options = self.table(where, raw)
        adapter = options.pop("adapter", None)
        problems = option_problems(adapter, name, options) if isinstance(raw, dict) else []
        for problem in problems:  # the adapter's own checks, with the side named here
            self.problem(where, problem)
        return c.SideConfig(name, adapter if isinstance(adapter, str) else "", options)

    def read_value_maps(self) -> dict[str, c.ValueMap]:
        tables = self.expanded.value_maps
        out = {}
        for name, table in tables.items():
            with self.reading(self.expanded.value_map_files[name]):
                out[name] = self.read_value_map(name, table)
        return out

    def read_value_map(self, name: str, raw: Any) -> c.ValueMap:
        where = f"[value_maps.{name}]"
        table = self.table(where, raw)
        strict = table.pop("strict", False)
        if not isinstance(strict, bool):
            self.problem(where, "strict must be true or false")
        forward: dict[Any, Any] = {}
        backward: dict[Any, Any] = {}
        for value, other in table.items():
            if (wrong := storable_problem(other)) is not None:
                self.problem(where, f"{value!r} = {toml(other)} {wrong}")
            elif other in backward:
                self.problem(
                    where,
                    f"{backward[other]!r} and {value!r} both map to {other!r}, "
                    "so it cannot be translated back",
                )
            else:
                forward[value], backward[other] = other, value
        return c.ValueMap(name, forward, backward, strict is True)

    def read_maps(self) -> tuple[c.TableMap, ...]:
        raw_maps = self.expanded.maps
        if not raw_maps:
            if not self.expanded.problems:
                self.problem("", "at least one [[maps]] table is needed")
            return ()
        self.map_names = [m.get("name") if isinstance(m, dict) else None for m in raw_maps]
        built: list[c.TableMap] = []
        for raw, (file, i) in zip(raw_maps, self.expanded.map_files, strict=True):
            with self.reading(file):
                if not isinstance(raw, dict):
                    self.problem(f"maps[{i}]", "must be a table")
                elif (m := MapReader(self, raw, i).read()) is not None:
                    built.append(m)
        self.check_map_names()
        self.check_entities(built)
        self.check_prerequisites()
        return tuple(built)

    def check_map_names(self) -> None:
        """Two maps of one file with one name (across files, the includes report it)."""
        names = self.map_names
        files = self.expanded.map_files
        for i, name in enumerate(names):
            first = names.index(name) if isinstance(name, str) else i
            if first < i and files[first][0] == files[i][0]:
                with self.reading(files[i][0]):
                    self.problem(
                        f"map {name!r}, name",
                        f"maps[{files[first][1]}] and maps[{files[i][1]}] "
                        "have the same name; names must be unique",
                    )

    def check_entities(self, maps: list[c.TableMap]) -> None:
        for side in (0, 1):
            used: dict[str, c.TableMap] = {}
            for m in maps:
                other = used.setdefault(m.entities[side], m)
                if other is not m:
                    where = f"map {other.name!r}" + (
                        f" of {self.file_of(other.name)}"
                        if self.file_of(other.name) != self.file_of(m.name)
                        else ""
                    )
                    with self.reading(self.file_of(m.name)):
                        self.problem(
                            f"map {m.name!r}, {self.side_names[side]}",
                            f"entity {m.entities[side]!r} is already mapped by {where}; "
                            "an entity belongs to one map",
                        )

    def check_prerequisites(self) -> None:
        """Report each cycle of needs (prerequisites and lookups), naming where each is written."""
        needs = dict(self.needs)
        while True:
            graph: dict[str, set[str]] = {}
            for a, b in needs:
                graph.setdefault(a, set()).add(b)
            cycle = find_cycle(graph)
            if not cycle:
                return
            steps = list(zip(cycle, cycle[1:], strict=False))
            how = "; ".join(f"{a} -> {b}: {needs[a, b]}" for a, b in steps)
            with self.reading(self.file_of(cycle[0])):
                self.problem(
                    f"map {cycle[0]!r}, {needs[steps[0]]}",
                    f"prerequisite cycle {' -> '.join(cycle)} ({how})",
                )
            del needs[steps[-1]]

    def table(self, where: str, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return dict(value)
        self.problem(where, f"must be a table, not {type(value).__name__}")
        return {}


def _has_path(side: c.SideConfig) -> bool:
    raw = side.options.get("path")
    return isinstance(raw, str) and bool(raw)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (after symlinks; hard links too, if both exist)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.samefile(b)
    except OSError:
        return False
